/*
 * cli/cmd_subscribers.c - init, key rotate, enroll, import, list, stats.
 *
 * Addresses appear on standard output only where the user asked for them
 * (list); errors and logs name subscribers by id.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The folder that is to hold @path ([store] @key) must exist and be ours
 * to write: init does not make it, since a folder made by whoever runs
 * init (root, often) would not belong to the user that runs newsletter.
 */
static int
folder_ready(struct cli *c, const char *path, const char *key)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat sb;

	if (slash == NULL)
		return EXIT_OK;	/* the current folder */
	if (fmt(dir, sizeof(dir), "%.*s", (int)(slash == path ? 1 : slash - path), path) < 0)
		return cli_fail(c, EXIT_USAGE, "[store] %s: the folder of %s is longer than %d bytes",
				key, path, PATH_MAX - 1);
	if (stat(dir, &sb) != 0)
		return cli_fail(c, EXIT_FAIL, "the folder %s (of [store] %s) %s: create it, owned by the "
				"user that runs newsletter (install -d -m 0750 -o newsletter -g newsletter %s), "
				"or install the newsletter package, which does; or set [store] %s",
				dir, key, errno == ENOENT ? "does not exist" : strerror(errno), dir, key);
	if (!S_ISDIR(sb.st_mode))
		return cli_fail(c, EXIT_FAIL, "%s (the folder of [store] %s) is not a folder", dir, key);
	if (access(dir, W_OK | X_OK) != 0)
		return cli_fail(c, EXIT_FAIL, "the folder %s (of [store] %s) is not writable by this user: "
				"run init as the user that runs newsletter (sudo -u newsletter newsletter init)",
				dir, key);
	return EXIT_OK;
}

int
cmd_init(struct cli *c, int argc, char **argv)
{
	char err[ERR_LEN];
	enum store_status s;
	int r;

	while ((r = cli_getopt(c, argc, argv, "h", NULL)) != -1)
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
	if (optind != argc)
		return cli_usage(c, "init takes no arguments");
	if (access(c->cfg.store.database, F_OK) == 0)
		return cli_fail(c, EXIT_FAIL, "the database %s exists already: refusing to overwrite it",
				c->cfg.store.database);
	if ((r = folder_ready(c, c->cfg.store.database, "database")) != EXIT_OK ||
	    (r = folder_ready(c, c->cfg.store.key_file, "key_file")) != EXIT_OK)
		return r;
	if (store_keys_create(c->cfg.store.key_file, err) < 0)
		return cli_fail(c, EXIT_FAIL, "%s", err);
	s = store_create(c->cfg.store.database, err);
	if (s != STORE_OK) {
		unlink(c->cfg.store.key_file);	/* made a moment ago, used by nothing */
		return cli_fail(c, store_exit_code(s), "%s", err);
	}
	printf("created the database %s\n", c->cfg.store.database);
	printf("created the key file %s (mode 0600): keep it secret and backed up\n",
	       c->cfg.store.key_file);
	return EXIT_OK;
}

int
cmd_key(struct cli *c, int argc, char **argv)
{
	char err[ERR_LEN];
	int r, id;

	while ((r = cli_getopt(c, argc, argv, "h", NULL)) != -1)
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
	if (argc - optind != 1 || strcmp(argv[optind], "rotate") != 0)
		return cli_usage(c, "the only key command is 'rotate'");
	if (store_keys_rotate(c->cfg.store.key_file, &id, err) < 0)
		return cli_fail(c, EXIT_FAIL, "%s", err);
	printf("added key %d: new links are signed with it; links signed with older keys keep working\n", id);
	return EXIT_OK;
}

int
cmd_enroll(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"order", required_argument, NULL, 'o'},
		{"date", required_argument, NULL, 'd'},
		{"consent", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct purchase p = {.source = "cli"};
	enum enroll_result res;
	enum store_status s;
	char err[ERR_LEN];
	int64_t id;
	int r;

	while ((r = cli_getopt(c, argc, argv, ":h", opts)) != -1) {
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
		switch (r) {
		case 'n':
			p.name = optarg;
			break;
		case 'o':
			p.order = optarg;
			break;
		case 'd':
			p.date = optarg;
			break;
		case 'C':
			p.consent = true;
			break;
		}
	}
	if (argc - optind != 1)
		return cli_usage(c, "give one address");
	p.email = argv[optind];
	if ((r = cli_open(c)) != EXIT_OK)
		return r;
	s = store_enroll(c->st, &p, &res, &id, err);
	if (s == STORE_SUPPRESSED) {
		printf("not enrolled: %s\n", err);
		return EXIT_OK;
	}
	if (s != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	if (res == ENROLL_NEW)
		printf("enrolled subscriber %lld (%s)\n", (long long)id, store_basis_name(p.consent));
	else
		printf("subscriber %lld was enrolled already: last purchase refreshed%s\n",
		       (long long)id, p.consent ? ", consent recorded" : "");
	return EXIT_OK;
}

/* Column indexes of a CSV header, -1 where absent. */
struct columns {
	int email, name, order, date, n;
};

static int
read_header(struct cli *c, const char *file, struct csv *csv, struct columns *col)
{
	char err[ERR_LEN], **f;
	int n = csv_next(csv, &f, err);

	*col = (struct columns){-1, -1, -1, -1, n};
	if (n == 0 && csv_error(csv))
		return cli_fail(c, EXIT_FAIL, "cannot read %s: %s", file, strerror(errno));
	if (n == 0)
		return cli_fail(c, EXIT_USAGE, "%s is empty: it needs a header row (email,name,order,date)", file);
	if (n < 0)
		return cli_fail(c, EXIT_USAGE, "%s:%ld: the header row: %s", file, csv_line(csv), err);
	for (int i = 0; i < n; i++) {
		char *name = f[i];
		int *slot;

		while (*name == ' ')
			name++;
		name[strcspn(name, " ")] = '\0';
		if (strcasecmp(name, "email") == 0)
			slot = &col->email;
		else if (strcasecmp(name, "name") == 0)
			slot = &col->name;
		else if (strcasecmp(name, "order") == 0)
			slot = &col->order;
		else if (strcasecmp(name, "date") == 0)
			slot = &col->date;
		else
			return cli_fail(c, EXIT_USAGE, "%s:%ld: unknown column '%.40s' in the header (known: email, name, order, date)",
					file, csv_line(csv), name);
		if (*slot >= 0)
			return cli_fail(c, EXIT_USAGE, "%s:%ld: the column '%s' appears twice in the header",
					file, csv_line(csv), name);
		*slot = i;
	}
	if (col->email < 0)
		return cli_fail(c, EXIT_USAGE, "%s:%ld: the header has no 'email' column", file, csv_line(csv));
	return EXIT_OK;
}

struct import_counts {
	long long rows, added, refreshed, suppressed, bad;
};

static int
import_rows(struct cli *c, const char *file, struct csv *csv, const struct columns *col,
	    off_t size, struct import_counts *n)
{
	struct progress prog;
	struct purchase p = {.source = "import"};
	double start = monotonic_seconds();
	enum enroll_result res;
	enum store_status s;
	char err[ERR_LEN], **f;
	int64_t id;
	int nf;

	progress_init(&prog);
	while ((nf = csv_next(csv, &f, err)) != 0) {
		n->rows++;
		if (nf > 0 && nf != col->n) {
			errf(err, "%d fields where the header has %d", nf, col->n);
			nf = -1;
		}
		if (nf < 0) {
			fprintf(stderr, "%s:%ld: %s\n", file, csv_line(csv), err);
			n->bad++;
			continue;
		}
		p.email = f[col->email];
		p.name = col->name >= 0 ? f[col->name] : NULL;
		p.order = col->order >= 0 ? f[col->order] : NULL;
		p.date = col->date >= 0 ? f[col->date] : NULL;
		s = store_enroll(c->st, &p, &res, &id, err);
		if (s == STORE_INVALID) {
			fprintf(stderr, "%s:%ld: %s\n", file, csv_line(csv), err);
			n->bad++;
		} else if (s == STORE_SUPPRESSED) {
			n->suppressed++;
		} else if (s != STORE_OK) {
			progress_done(&prog);
			return cli_fail(c, store_exit_code(s), "%s:%ld: %s", file, csv_line(csv), err);
		} else if (res == ENROLL_NEW) {
			n->added++;
		} else {
			n->refreshed++;
		}
		if ((n->rows & 1023) == 0)
			progress_update(&prog, "importing", n->rows,
					size > 0 ? (double)csv_offset(csv) / (double)size : -1);
	}
	progress_done(&prog);
	log_debug("read %lld rows in %.2f s", n->rows, monotonic_seconds() - start);
	return EXIT_OK;
}

int
cmd_import(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"skip-bad", no_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct import_counts n = {0};
	struct columns col;
	enum store_status s;
	bool skip_bad = false;
	char err[ERR_LEN];
	const char *file;
	struct stat sb;
	struct csv *csv;
	FILE *fp;
	int r;

	while ((r = cli_getopt(c, argc, argv, "h", opts)) != -1) {
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
		if (r == 's')
			skip_bad = true;
	}
	if (argc - optind != 1)
		return cli_usage(c, "give one CSV file ('-' for standard input)");
	file = argv[optind];
	if (strcmp(file, "-") == 0) {
		fp = stdin;
		file = "(stdin)";
	} else if ((fp = fopen(file, "r")) == NULL) {
		return cli_fail(c, errno == ENOENT ? EXIT_USAGE : EXIT_FAIL, "cannot read %s: %s",
				file, strerror(errno));
	} else if (fstat(fileno(fp), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fclose(fp);
		return cli_fail(c, EXIT_USAGE, "%s is a folder: give a CSV file", file);
	}
	csv = csv_open(fp);
	r = read_header(c, file, csv, &col);
	if (r == EXIT_OK)
		r = cli_open(c);
	if (r == EXIT_OK)
		store_bulk(c->st);
	if (r == EXIT_OK && (s = store_begin(c->st, err)) != STORE_OK)
		r = cli_fail(c, store_exit_code(s), "%s", err);
	if (r == EXIT_OK) {
		r = import_rows(c, file, csv, &col,
				fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : 0, &n);
		if (r == EXIT_OK && csv_error(csv)) {
			store_rollback(c->st);
			r = cli_fail(c, EXIT_FAIL, "cannot read %s after line %ld: nothing imported", file,
				     csv_line(csv));
		} else if (r == EXIT_OK && n.bad > 0 && !skip_bad) {
			store_rollback(c->st);
			r = cli_fail(c, EXIT_USAGE, "%lld bad line%s of %lld: nothing imported "
				     "(correct them, or use --skip-bad to import the good rows)",
				     n.bad, n.bad == 1 ? "" : "s", n.rows);
		} else if (r == EXIT_OK && (s = store_commit(c->st, err)) != STORE_OK) {
			r = cli_fail(c, store_exit_code(s), "%s", err);
		} else if (r != EXIT_OK) {
			store_rollback(c->st);
		}
	}
	csv_close(csv);
	if (fp != stdin)
		fclose(fp);
	if (r != EXIT_OK)
		return r;
	printf("imported %lld row%s: %lld new, %lld refreshed, %lld suppressed (not enrolled)",
	       n.rows, n.rows == 1 ? "" : "s", n.added, n.refreshed, n.suppressed);
	if (n.bad > 0)
		printf(", %lld bad (skipped)", n.bad);
	printf("\n");
	return EXIT_OK;
}

struct list_ctx {
	bool json;
	long long n;
};

static json_t *
subscriber_json(const struct subscriber *s)
{
	return json_pack("{s:I, s:s, s:s?, s:s, s:s, s:s, s:s, s:s?, s:s?}",
			 "id", (json_int_t)s->id, "email", s->email,
			 "name", s->name[0] ? s->name : NULL,
			 "state", store_state_name(s->state),
			 "basis", store_basis_name(s->consent),
			 "enrolled", s->enrolled, "last_purchase", s->last_purchase,
			 "last_order", s->last_order[0] ? s->last_order : NULL,
			 "consent_date", s->consent_date[0] ? s->consent_date : NULL);
}

/* Prints @s left-aligned in @width columns, counting UTF-8 characters. */
static void
print_col(const char *s, int width)
{
	int chars = 0;

	for (const char *p = s; *p; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	fputs(s, stdout);
	printf("%*s", width > chars ? width - chars : 1, "");
}

static int
list_one(const struct subscriber *s, void *arg)
{
	struct list_ctx *l = arg;

	if (l->json) {
		json_t *o = subscriber_json(s);

		fputs(l->n ? ",\n  " : "\n  ", stdout);
		json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(o);
	} else {
		printf("%-8lld ", (long long)s->id);
		print_col(s->email, 41);
		print_col(s->name[0] ? s->name : "-", 25);
		printf("%-10s %-10.10s %s\n", store_state_name(s->state), s->enrolled,
		       s->last_purchase);
	}
	l->n++;
	return ferror(stdout) ? -1 : 0;
}

int
cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct list_ctx l = {0};
	enum store_status s;
	char err[ERR_LEN];
	int r;

	while ((r = cli_getopt(c, argc, argv, "h", opts)) != -1) {
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
		if (r == 'j')
			l.json = true;
	}
	if (optind != argc)
		return cli_usage(c, "list takes no arguments");
	if ((r = cli_open(c)) != EXIT_OK)
		return r;
	if (l.json)
		fputs("{\"subscribers\": [", stdout);
	else
		printf("%-8s %-40s %-24s %-10s %-10s %s\n", "ID", "EMAIL", "NAME", "STATE",
		       "ENROLLED", "LAST PURCHASE");
	s = store_subscriber_each(c->st, list_one, &l, err);
	if (l.json)
		fputs(l.n ? "\n]}\n" : "]}\n", stdout);
	if (s != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	if (fflush(stdout) != 0)
		return cli_fail(c, EXIT_FAIL, "writing the list: %s", strerror(errno));
	return EXIT_OK;
}

/* One issue's history, as a line of 'stats' or an item of its JSON array. */
struct history {
	json_t *json;		/* the array, or NULL for text */
	long long n;
};

static int
history_one(const struct mailing_summary *m, void *arg)
{
	struct history *h = arg;

	if (h->json) {
		json_array_append_new(h->json,
			json_pack("{s:s, s:s, s:s, s:s?, s:I, s:I, s:I, s:I, s:I}",
				  "id", m->ident, "subject", m->subject, "created", m->created,
				  "finished", m->finished[0] ? m->finished : NULL,
				  "sent", (json_int_t)m->sent, "failed", (json_int_t)m->failed,
				  "pending", (json_int_t)m->pending,
				  "hard_bounces", (json_int_t)m->bounced,
				  "unsubscribes", (json_int_t)m->unsubscribed));
		return 0;
	}
	if (h->n++ == 0)
		printf("mailings:\n  %-10s %8s %8s %8s %8s  %s\n", "DATE", "SENT", "FAILED", "BOUNCED",
		       "UNSUBS", "ISSUE");
	/* The date of a timestamp: its first 10 bytes (YYYY-MM-DD). */
	printf("  %-10.10s %8lld %8lld %8lld %8lld  %s \"%s\"\n", m->created, m->sent, m->failed,
	       m->bounced, m->unsubscribed, m->ident, m->subject);
	return 0;
}

int
cmd_stats(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct store_stats st;
	struct history h = {0};
	enum store_status s;
	bool json = false;
	char err[ERR_LEN];
	int r;

	while ((r = cli_getopt(c, argc, argv, "h", opts)) != -1) {
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
		if (r == 'j')
			json = true;
	}
	if (optind != argc)
		return cli_usage(c, "stats takes no arguments");
	if ((r = cli_open(c)) != EXIT_OK)
		return r;
	if ((s = store_stats(c->st, &st, err)) != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	if (json) {
		h.json = json_array();
		if ((s = store_mailing_each(c->st, history_one, &h, err)) != STORE_OK) {
			json_decref(h.json);
			return cli_fail(c, store_exit_code(s), "%s", err);
		}
	}
	if (json) {
		json_t *o = json_pack("{s:{s:I, s:I, s:I}, s:I, s:I}",
				      "subscribers", "total", (json_int_t)(st.active + st.restricted),
				      "active", (json_int_t)st.active, "restricted", (json_int_t)st.restricted,
				      "suppressed", (json_int_t)st.suppressed,
				      "audit_events", (json_int_t)st.audit_events);

		json_object_set_new(o, "last_mailing", !st.has_mailing ? json_null() :
			json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "id", st.mailing_ident,
				  "subject", st.mailing_subject, "created", st.mailing_created,
				  "sent", (json_int_t)st.mailing_sent, "pending", (json_int_t)st.mailing_pending,
				  "failed", (json_int_t)st.mailing_failed));
		/* Each issue's history, oldest first: counts kept on the
		 * mailing, which later deletions do not shrink. */
		json_object_set_new(o, "mailings", h.json);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
		return EXIT_OK;
	}
	printf("subscribers:   %lld (active %lld, restricted %lld)\n",
	       st.active + st.restricted, st.active, st.restricted);
	printf("suppressed:    %lld\n", st.suppressed);
	printf("audit events:  %lld\n", st.audit_events);
	if (st.has_mailing)
		printf("last mailing:  %s \"%s\" (%s): %lld sent, %lld pending, %lld failed\n",
		       st.mailing_ident, st.mailing_subject, st.mailing_created,
		       st.mailing_sent, st.mailing_pending, st.mailing_failed);
	else
		printf("last mailing:  none\n");
	if ((s = store_mailing_each(c->st, history_one, &h, err)) != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	if (fflush(stdout) != 0)
		return cli_fail(c, EXIT_FAIL, "writing the counts: %s", strerror(errno));
	return EXIT_OK;
}
