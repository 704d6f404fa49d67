/*
 * tests/unit/test_signup_mail.c - a signup's confirmation mail, parsed back
 * by GMime (headers, both parts, the link verifies as TOKEN_CONFIRM for
 * the signup, Auto-Submitted, no List-Unsubscribe, nothing that tracks),
 * and the drain against a real SMTP server on loopback
 * (tests/tools/smtpd.py): a mail accepted, one refused for good (5xx),
 * one deferred (4xx) and retried later, and a relay that is down; a batch
 * with a 5xx and a 4xx among others sent in one session, each outcome on
 * record; a relay that dies mid-batch leaving the rest due.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <gmime/gmime.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "helpers.h"
#include "../../mailer/mailer.h"

#define SIGNUP_ID 4711

static GMimeMessage *
parse(const struct buf *b)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(b->s, b->len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);

	g_object_unref(parser);
	g_object_unref(stream);
	cr_assert_not_null(m, "GMime cannot parse the message");
	return m;
}

/* The decoded text of a part. */
static char *
part_text(GMimeObject *o)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GMimeDataWrapper *dw = g_mime_part_get_content(GMIME_PART(o));
	GByteArray *a;
	char *s;

	g_mime_data_wrapper_write_to_stream(dw, mem);
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	s = strndup((const char *)a->data, a->len);
	g_object_unref(mem);
	return s;
}

/* The token of the first "/c/" link in @text, verified for @keys. */
static int64_t
link_signup(const struct store_keys *keys, const char *base, const char *text)
{
	char want[600], tok[TOKEN_LEN + 1];
	struct token_claims c;
	const char *p;

	snprintf(want, sizeof(want), "%s/c/", base);
	p = strstr(text, want);
	cr_assert_not_null(p, "no %s link in: %s", want, text);
	memcpy(tok, p + strlen(want), TOKEN_LEN);
	tok[TOKEN_LEN] = '\0';
	cr_assert_eq(store_token_verify(keys, tok, TOKEN_CONFIRM, &c), 0, "the link's token does not verify");
	cr_expect_eq(c.gen, 0);
	cr_expect_eq(c.mailing, 0);
	return c.subscriber;
}

/* Checks a confirmation mail: what it must and must not have. */
static void
check_mail(const struct store_keys *keys, const struct config *cfg, const struct buf *b,
	   const char *to, const char *subject, const char *words, int64_t signup)
{
	GMimeMessage *m = parse(b);
	GMimeObject *body = g_mime_message_get_mime_part(m);
	GMimeObject *obj = GMIME_OBJECT(m);
	InternetAddressList *tl = g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO);
	GMimeContentType *ct;
	char *text, *html;

	cr_assert_eq(internet_address_list_length(tl), 1);
	cr_expect_str_eq(internet_address_mailbox_get_addr(
		INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(tl, 0))), to);
	cr_expect_str_eq(g_mime_message_get_subject(m), subject);
	cr_expect_not_null(g_mime_message_get_date(m));
	cr_expect_not_null(g_mime_message_get_message_id(m));
	{
		char *from = internet_address_list_to_string(g_mime_message_get_from(m), NULL, FALSE);

		cr_expect_not_null(strstr(from, "newsletter@example.org"));
		g_free(from);
	}
	cr_expect_str_eq(g_mime_object_get_header(obj, "Auto-Submitted"), "auto-generated");
	cr_expect_null(g_mime_object_get_header(obj, "List-Unsubscribe"));
	cr_expect_null(g_mime_object_get_header(obj, "List-Unsubscribe-Post"));
	cr_expect_null(g_mime_object_get_header(obj, "List-Id"));
	cr_assert(GMIME_IS_MULTIPART(body));
	ct = g_mime_object_get_content_type(body);
	cr_expect_str_eq(g_mime_content_type_get_media_subtype(ct), "alternative");
	cr_assert_eq(g_mime_multipart_get_count(GMIME_MULTIPART(body)), 2);
	for (int i = 0; i < 2; i++) {
		char *type = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(
			g_mime_multipart_get_part(GMIME_MULTIPART(body), i)));

		cr_expect_str_eq(type, i == 0 ? "text/plain" : "text/html");
		g_free(type);
	}
	text = part_text(g_mime_multipart_get_part(GMIME_MULTIPART(body), 0));
	html = part_text(g_mime_multipart_get_part(GMIME_MULTIPART(body), 1));
	cr_expect_eq(link_signup(keys, cfg->list.base_url, text), signup);
	cr_expect_eq(link_signup(keys, cfg->list.base_url, html), signup);
	cr_expect_not_null(strstr(text, words), "the text part lacks '%s': %s", words, text);
	cr_expect_not_null(strstr(text, "UTC"), "the text does not say when the link expires");
	/* nothing that tracks: no image, no other link than the one */
	cr_expect_null(strstr(html, "<img"));
	cr_expect_null(strstr(html, "src="));
	{
		int links = 0;

		for (const char *p = html; (p = strstr(p, "href=")) != NULL; p++)
			links++;
		cr_expect_eq(links, 1, "the HTML has %d links", links);
	}
	free(text);
	free(html);
	g_object_unref(m);
}

static void
confirm_for(const struct store_keys *keys, const struct config *cfg, int64_t id,
	    char link[1024], struct mailer_confirm *c, const char *lang, const char *name)
{
	char tok[TOKEN_LEN + 1];

	cr_assert_eq(store_token_make(keys, TOKEN_CONFIRM, &(struct token_claims){.subscriber = id}, tok), 0);
	snprintf(link, 1024, "%s/c/%s", cfg->list.base_url, tok);
	*c = (struct mailer_confirm){.signup = id, .name = name, .lang = lang, .link = link,
				     .expires = "2026-12-09T14:05:00Z"};
}

Test(signup_mail, message_in_english_and_norwegian)
{
	struct scratch s;
	struct config cfg;
	struct mailer_confirm c;
	struct buf b;
	char err[ERR_LEN] = "", link[1024];

	scratch_open(&s);
	g_mime_init();
	cr_assert_eq(config_load(&cfg, NULL, false, err), 0, "%s", err);
	buf_init(&b);
	confirm_for(s.keys, &cfg, SIGNUP_ID, link, &c, "en", "Kari Nordmann");
	cr_assert_eq(mailer_confirm_message(&cfg, "kari@example.no", &c, time(NULL), &b, err), 0, "%s", err);
	check_mail(s.keys, &cfg, &b, "kari@example.no", "Confirm your subscription to Newsletter",
		   "ignore this mail: nothing happens", SIGNUP_ID);
	cr_expect_not_null(strstr(b.s, "2026-12-09 14:05 UTC"));
	confirm_for(s.keys, &cfg, SIGNUP_ID + 1, link, &c, "nb", "");
	cr_assert_eq(mailer_confirm_message(&cfg, "ola@example.no", &c, time(NULL), &b, err), 0, "%s", err);
	check_mail(s.keys, &cfg, &b, "ola@example.no", "Bekreft påmeldingen til Newsletter",
		   "adressen din slettes", SIGNUP_ID + 1);
	/* a name that would be markup is escaped in the HTML */
	confirm_for(s.keys, &cfg, SIGNUP_ID, link, &c, "en", "<b>Bold</b> & co");
	cr_assert_eq(mailer_confirm_message(&cfg, "x@example.no", &c, time(NULL), &b, err), 0, "%s", err);
	{
		GMimeMessage *m = parse(&b);
		char *html = part_text(g_mime_multipart_get_part(GMIME_MULTIPART(g_mime_message_get_mime_part(m)), 1));

		cr_expect_null(strstr(html, "<b>Bold"));
		cr_expect_not_null(strstr(html, "&lt;b&gt;Bold"));
		free(html);
		g_object_unref(m);
	}
	/* an expiry that is not a time */
	c.expires = "soon";
	cr_expect_eq(mailer_confirm_message(&cfg, "x@example.no", &c, time(NULL), &b, err), -1);
	buf_free(&b);
	config_free(&cfg);
	g_mime_shutdown();
	scratch_close(&s);
}

/* --- the drain against smtpd.py --- */

static pid_t smtpd_pid;

static void
smtpd_stop(void)
{
	if (smtpd_pid > 0) {
		kill(smtpd_pid, SIGTERM);
		waitpid(smtpd_pid, NULL, 0);
		smtpd_pid = 0;
	}
}

static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Starts smtpd.py on @port writing into @dir, waiting @delay (NULL: no
 * wait) before it answers each DATA; returns once it listens. */
static void
smtpd_start(int port, const char *dir, const char *delay)
{
	char p[16], line[64];
	int fds[2];
	FILE *fp;

	snprintf(p, sizeof(p), "%d", port);
	cr_assert_eq(pipe(fds), 0);
	smtpd_pid = fork();
	cr_assert_geq(smtpd_pid, 0);
	if (smtpd_pid == 0) {
		/* Stopped with the test's process even if it crashes. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], 1);
		close(fds[0]);
		execl("/usr/bin/python3", "python3", "tests/tools/smtpd.py", "--port", p, "--dir", dir,
		      "--rcpt", "refused@=550 5.1.1 no such user",
		      "--rcpt", "later@=451 4.3.0 try again later",
		      delay ? "--delay" : (char *)NULL, delay, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	fp = fdopen(fds[0], "r");
	cr_assert(fgets(line, sizeof(line), fp) != NULL && strncmp(line, "ready", 5) == 0,
		  "smtpd.py did not start (run from the top of the tree, python3-aiosmtpd installed)");
	fclose(fp);
}

static int
count_eml(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, ".eml") != NULL;
	closedir(d);
	return n;
}

static void
read_file(const char *path, struct buf *b)
{
	FILE *fp = fopen(path, "rb");
	char chunk[4096];
	size_t n;

	cr_assert_not_null(fp, "%s", path);
	buf_reset(b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(b, chunk, n);
	fclose(fp);
}

static int64_t
request(struct scratch *s, const char *email, const char *lang)
{
	struct signup su = {.email = email, .name = "", .lang = lang, .consent_text = "Yes.",
			    .channel = SIGNUP_WEB, .confirm_hours = 72, .resend_hours = 24,
			    .max_pending = 100};
	enum signup_outcome out;
	char err[ERR_LEN] = "";
	int64_t id;

	cr_assert_eq(store_signup_request(s->st, &su, &out, err), STORE_OK, "%s", err);
	cr_assert_eq(out, SIGNUP_QUEUED);
	id = scratch_due_signup(s, email);
	cr_assert_neq(id, 0, "the signup of %s is not due", email);
	return id;
}

Test(signup_mail, drain_over_smtp, .fini = smtpd_stop)
{
	struct scratch s;
	struct config cfg;
	struct confirm_drain res;
	struct signup_mail m[8];
	struct buf b;
	char err[ERR_LEN] = "", dir[128], path[160];
	int64_t ok_id, later_id;
	int port;

	signal(SIGPIPE, SIG_IGN);
	scratch_open(&s);
	cr_assert_eq(config_load(&cfg, NULL, false, err), 0, "%s", err);
	port = free_port();
	cfg.smtp.port = port;
	free(cfg.store.database);
	cfg.store.database = strdup(s.db);
	snprintf(dir, sizeof(dir), "%s/mail", s.dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	smtpd_start(port, dir, NULL);

	mailer_hold();	/* as serve's signup thread does */
	ok_id = request(&s, "ok@example.no", "nb");
	request(&s, "refused@example.no", "en");
	later_id = request(&s, "later@example.no", "en");
	cr_assert_eq(mailer_confirm_drain(&cfg, s.keys, s.st, &res, err), 0, "%s", err);
	cr_expect_eq(res.sent, 1);
	cr_expect_eq(res.refused, 1);
	cr_expect_eq(res.retried, 1);
	cr_expect(!res.relay_down);
	cr_assert_eq(count_eml(dir), 1);
	buf_init(&b);
	snprintf(path, sizeof(path), "%s/1.eml", dir);
	read_file(path, &b);
	check_mail(s.keys, &cfg, &b, "ok@example.no", "Bekreft påmeldingen til Newsletter",
		   "Lenken virker til", ok_id);
	/* nothing is due now: sent, refused for good, deferred for a minute */
	cr_expect_eq(store_signup_due(s.st, m, 8, err), 0);
	cr_assert_eq(mailer_confirm_drain(&cfg, s.keys, s.st, &res, err), 0, "%s", err);
	cr_expect_eq(res.sent + res.refused + res.retried, 0);
	/* the deferred one's time comes; the relay is down: retried later */
	smtpd_stop();
	scratch_sql(&s, "UPDATE signup SET mail_due = '2000-01-01T00:00:00Z' WHERE mail_due IS NOT NULL");
	cr_assert_eq(store_signup_due(s.st, m, 8, err), 1);
	cr_expect_eq(m[0].id, later_id);
	cr_expect_eq(m[0].attempts, 1);
	cr_assert_eq(mailer_confirm_drain(&cfg, s.keys, s.st, &res, err), 0, "%s", err);
	cr_expect(res.relay_down);
	cr_expect_eq(res.retried, 1);
	cr_expect_eq(store_signup_due(s.st, m, 8, err), 0, "retried at once, not after a back-off");
	/* the back-off doubles: 60 s, then 120 s */
	{
		sqlite3 *db;
		sqlite3_stmt *q;

		cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
		cr_assert_eq(sqlite3_prepare_v2(db, "SELECT (julianday(mail_due) - julianday('now')) * 86400,"
						" mail_attempts FROM signup WHERE email = 'later@example.no'",
						-1, &q, NULL), SQLITE_OK);
		cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
		cr_expect(sqlite3_column_double(q, 0) > 100 && sqlite3_column_double(q, 0) <= 121,
			  "the next try is in %.0f s", sqlite3_column_double(q, 0));
		cr_expect_eq(sqlite3_column_int(q, 1), 2);
		sqlite3_finalize(q);
		sqlite3_close(db);
	}
	mailer_release();
	buf_free(&b);
	config_free(&cfg);
	scratch_close(&s);
}

/* A drain's scratch store, config and SMTP server (@delay as smtpd_start). */
struct rig {
	struct scratch s;
	struct config cfg;
	char dir[128];
};

static void
rig_open(struct rig *g, const char *delay)
{
	char err[ERR_LEN] = "";
	int port;

	signal(SIGPIPE, SIG_IGN);
	scratch_open(&g->s);
	cr_assert_eq(config_load(&g->cfg, NULL, false, err), 0, "%s", err);
	port = free_port();
	g->cfg.smtp.port = port;
	free(g->cfg.store.database);
	g->cfg.store.database = strdup(g->s.db);
	snprintf(g->dir, sizeof(g->dir), "%s/mail", g->s.dir);
	cr_assert_eq(mkdir(g->dir, 0700), 0);
	smtpd_start(port, g->dir, delay);
	mailer_hold();
}

static void
rig_close(struct rig *g)
{
	mailer_release();
	config_free(&g->cfg);
	scratch_close(&g->s);
}

/* Signup @id's record: whether sent, whether due again, attempts, seconds
 * until the next try. */
struct mailed {
	bool sent, due;
	int attempts;
	double next;
};

static struct mailed
mailed(struct scratch *s, int64_t id)
{
	struct mailed r;
	sqlite3 *db;
	sqlite3_stmt *q;

	cr_assert_eq(sqlite3_open(s->db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT mail_sent IS NOT NULL, mail_due IS NOT NULL,"
					" mail_attempts, (julianday(mail_due) - julianday('now')) * 86400"
					" FROM signup WHERE id = ?", -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_int64(q, 1, id);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "no signup %lld", (long long)id);
	r = (struct mailed){sqlite3_column_int(q, 0) != 0, sqlite3_column_int(q, 1) != 0,
			    sqlite3_column_int(q, 2), sqlite3_column_double(q, 3)};
	sqlite3_finalize(q);
	sqlite3_close(db);
	return r;
}

/* The SMTP sessions and recipients of the messages smtpd.py accepted,
 * from its log (one JSON object a line, keys in a fixed order). */
static int
accepted(const char *dir, int sessions[], char to[][64], int max)
{
	char path[160], line[1024];
	FILE *fp;
	int n = 0;

	snprintf(path, sizeof(path), "%s/log.jsonl", dir);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (n < max && fgets(line, sizeof(line), fp)) {
		const char *p = strstr(line, "\"session\": "), *t = strstr(line, "\"to\": [\"");

		cr_assert(p && t, "smtpd.py's log line has no session or recipient: %s", line);
		sessions[n] = atoi(p + 11);
		snprintf(to[n], 64, "%.*s", (int)strcspn(t + 8, "\""), t + 8);
		n++;
	}
	fclose(fp);
	return n;
}

Test(signup_mail, batch_one_session, .fini = smtpd_stop)
{
	static const char *const to[] = {"a@example.no", "b@example.no", "refused@example.no",
					 "c@example.no", "later@example.no", "d@example.no"};
	struct rig g;
	struct confirm_drain res;
	struct signup_mail m[8];
	char err[ERR_LEN] = "", got[8][64];
	int64_t id[6];
	int sessions[8], n;

	rig_open(&g, NULL);
	for (int i = 0; i < 6; i++)
		id[i] = request(&g.s, to[i], "en");
	cr_assert_eq(mailer_confirm_drain(&g.cfg, g.s.keys, g.s.st, &res, err), 0, "%s", err);
	cr_expect_eq(res.sent, 4);
	cr_expect_eq(res.refused, 1);
	cr_expect_eq(res.retried, 1);
	cr_expect(!res.relay_down);
	/* the four others, each once, all in one session */
	n = accepted(g.dir, sessions, got, 8);
	cr_assert_eq(n, 4, "%d messages accepted", n);
	for (int i = 0; i < n; i++) {
		cr_expect_eq(sessions[i], 1, "message %d went in session %d", i + 1, sessions[i]);
		cr_expect_str_eq(got[i], to[i < 2 ? i : i == 2 ? 3 : 5]);
	}
	/* each outcome on record */
	for (int i = 0; i < 6; i++) {
		struct mailed r = mailed(&g.s, id[i]);

		cr_expect_eq(r.attempts, 1, "%s: %d attempts", to[i], r.attempts);
		if (i == 2) {
			cr_expect(!r.sent && !r.due, "the 5xx address is not tried again");
		} else if (i == 4) {
			cr_expect(!r.sent && r.due, "the 4xx address is tried again");
			cr_expect(r.next > 50 && r.next <= 61, "the 4xx retry is in %.0f s", r.next);
		} else {
			cr_expect(r.sent && !r.due, "%s is not recorded as sent", to[i]);
		}
	}
	cr_expect_eq(store_signup_due(g.s.st, m, 8, err), 0);
	rig_close(&g);
}

Test(signup_mail, relay_dies_mid_batch, .fini = smtpd_stop)
{
	struct rig g;
	struct confirm_drain res;
	struct signup_mail m[8];
	char err[ERR_LEN] = "", email[64], path[200], got[8][64];
	int64_t id[8];
	int sessions[8], n;
	pid_t killer;

	/* Each DATA answered after 0.3 s: the relay is killed 0.1 s after it
	 * accepted the second message, while the third is in flight. */
	rig_open(&g, "0.3");
	for (int i = 0; i < 8; i++) {
		snprintf(email, sizeof(email), "r%d@example.no", i);
		id[i] = request(&g.s, email, "nb");
	}
	snprintf(path, sizeof(path), "%s/2.eml", g.dir);
	killer = fork();
	cr_assert_geq(killer, 0);
	if (killer == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		for (int i = 0; i < 2000 && access(path, F_OK) != 0; i++)
			usleep(5000);
		usleep(100000);
		kill(smtpd_pid, SIGKILL);
		_exit(0);
	}
	cr_assert_eq(mailer_confirm_drain(&g.cfg, g.s.keys, g.s.st, &res, err), 0, "%s", err);
	waitpid(killer, NULL, 0);
	cr_expect_eq(res.sent, 2);
	cr_expect_eq(res.retried, 6);
	cr_expect_eq(res.refused, 0);
	cr_expect(res.relay_down);
	n = accepted(g.dir, sessions, got, 8);
	cr_assert_eq(n, 2);
	/* the two accepted are on record as sent; the other six, due again
	 * after the back-off */
	for (int i = 0; i < 8; i++) {
		struct mailed r = mailed(&g.s, id[i]);
		bool was_sent = false;

		snprintf(email, sizeof(email), "r%d@example.no", i);
		for (int k = 0; k < n; k++)
			was_sent |= strcmp(got[k], email) == 0;
		cr_expect_eq(r.sent, was_sent, "%s: recorded sent %d, accepted %d", email, r.sent,
			     was_sent);
		cr_expect_eq(r.due, !was_sent, "%s: due again %d", email, r.due);
		cr_expect_eq(r.attempts, 1);
	}
	scratch_sql(&g.s, "UPDATE signup SET mail_due = '2000-01-01T00:00:00Z' WHERE mail_due IS NOT NULL");
	cr_expect_eq(store_signup_due(g.s.st, m, 8, err), 6);
	rig_close(&g);
}
