/*
 * bounce/run.c - one run of the bounce processor over its source: read
 * (stdin, FILE arguments, a Maildir, an mbox), parse, act on the store,
 * and hand each message's fate to the caller's output callback, in the
 * order the messages were read.
 *
 * A message from stdin (an MTA pipe) is stored by us only in [bounce]
 * keep: when it cannot be parsed, or with keep_handled. Every message read
 * is counted once. Stops at the first store failure of a Maildir or an
 * mbox (the rest is left for the next run), and at a busy store over FILE
 * arguments. Knows no output format and no exit code; logs subscriber ids
 * and file names, never an address.
 */
#include "bounce.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct bounce_run {
	const struct bounce_run_opts *o;
	bounce_print_fn print;
	void *arg;
	struct bounce_run_counts *n;
	struct bounce_parser *bp;	/* for messages handled one by one, on this thread */
	bool busy;			/* the store was busy: stop reading FILE arguments */
};

/* Tells the caller what became of one message, and counts it. */
static void
tell(struct bounce_run *run, const char *path, const struct bounce_report *rep, enum bounce_fate fate,
     const struct bounce_outcome *out, enum store_status s, const char *error)
{
	struct bounce_message m = {
		.path = path, .rep = rep, .fate = fate, .out = out, .status = s, .error = error,
	};

	run->print(&m, run->arg);
}

/* Acts on a message as parsing left it (@fate) and tells what it says;
 * @perr says why a message was not parsed or not read. */
static enum bounce_done
finish(struct bounce_run *run, const char *path, struct bounce_report *rep, enum bounce_fate fate,
       const char *perr)
{
	struct bounce_outcome out;
	char err[ERR_LEN];
	enum store_status s;

	run->n->messages++;
	if (fate == BOUNCE_FATE_UNREAD) {
		run->n->unread++;
		rep->n = 0;
		rep->kind = BOUNCE_KIND_NONE;
		tell(run, path, rep, fate, NULL, STORE_OK, perr);
		log_warn("bounce: %s: %s", path, perr);
		return BOUNCE_FLAG;
	}
	if (fate == BOUNCE_FATE_UNPARSED) {
		run->n->unparsed++;
		tell(run, path, rep, fate, NULL, STORE_OK, perr);
		log_warn("bounce: %s: %s", path, perr);
		return BOUNCE_FLAG;
	}
	s = bounce_act(run->o->st, run->o->keys, &run->o->pol, rep, &out, err);
	if (s != STORE_OK) {
		run->n->retried++;
		run->busy = run->busy || s == STORE_BUSY;
		log_error("bounce: %s: %s", path, err);
		tell(run, path, rep, fate, NULL, s, err);
		return BOUNCE_RETRY;
	}
	tell(run, path, rep, fate, &out, s, NULL);
	return BOUNCE_DONE;
}

/* The handler of a Maildir, an mbox and stdin: parses on this thread. */
static enum bounce_done
handle(const char *path, const char *data, size_t len, const char *unread, void *arg)
{
	struct bounce_run *run = arg;
	struct bounce_report *rep = xmalloc(sizeof(*rep));
	char err[ERR_LEN];
	enum bounce_done done;

	if (data == NULL) {
		done = finish(run, path, rep, BOUNCE_FATE_UNREAD, unread);
		free(rep);
		return done;
	}
	if (run->bp == NULL)
		run->bp = bounce_parser_new();
	done = finish(run, path, rep,
		      bounce_parse_with(run->bp, data, len, run->o->envelope, rep, err) < 0
		      ? BOUNCE_FATE_UNPARSED : BOUNCE_FATE_PARSED, err);
	free(rep);
	return done;
}

/*
 * FILE arguments: parsing (GMime) is most of the work and needs no store,
 * so one process per core but this one parses files into a ring of slots
 * in shared memory while this process acts on the store and prints, in
 * argument order, as soon as each next slot is ready: printing overlaps
 * parsing, and the workers live for the whole run. Processes, not
 * threads: GObject takes process-wide locks and shares counters for every
 * object it makes and frees (a parsed message is a hundred or more), and
 * on 2 cores GMime alone over the corpus ten times took 0.26-0.29 s in two
 * processes where two threads took 0.32-0.54 s. A worker only parses: it
 * never touches the store, logs nothing and leaves by _exit(). What it
 * hands back is the slot's bytes: a bounce_report must hold no pointer
 * but to static data (the same address in every process). A worker that
 * dies (a crash on a message) stops the run with an error naming the
 * file, as the crash of a thread stopped the whole process.
 */
#define PARSE_WORKERS_MAX 8
/* Slots a parser may run ahead of printing: when the other process is
 * held up (another program on the core), the one that runs keeps parsing
 * instead of waiting. 256 slots of a report (66 kB, the pages written
 * only) took the waits at load 2.7 from 446 to 5 a run of 5,664 files,
 * for 1.5 MB more resident memory. */
#define PARSE_RING 256
#define PARSE_WAIT_MS 100	/* how often a waiting printer looks for dead workers */

struct bounce_slot {
	const char *path;	/* the argument (the same address in every process) */
	struct bounce_report rep;
	enum bounce_fate fate;	/* parsed, not parsed, not read */
	bool ready;		/* parsed, not yet printed (under mu) */
	char err[ERR_LEN];
};

/* Shared by this process and the workers (MAP_SHARED). */
struct bounce_pipeline {
	char *const *files;
	size_t nfiles;
	atomic_size_t next;	/* the next file to claim */
	size_t printed;		/* files printed so far (under mu) */
	bool stop;		/* (under mu) */
	pthread_mutex_t mu;	/* process-shared and robust */
	pthread_cond_t room, ready;
	size_t parsing[PARSE_WORKERS_MAX];	/* each worker's file, or SIZE_MAX */
	struct bounce_slot ring[PARSE_RING];
};

/* Takes p->mu; a worker that died holding it left nothing half-done
 * that matters (a flag), so it is made consistent and taken. */
static void
lock(struct bounce_pipeline *p)
{
	if (pthread_mutex_lock(&p->mu) == EOWNERDEAD)
		pthread_mutex_consistent(&p->mu);
}

/* Parses file @i into its slot. */
static void
parse_one(struct bounce_pipeline *p, size_t i, struct bounce_parser *bp, struct buf *msg)
{
	struct bounce_slot *sl = &p->ring[i % PARSE_RING];

	sl->path = p->files[i];
	sl->fate = BOUNCE_FATE_UNPARSED;
	/* "-" is standard input, as usual (the caller lets it appear once). */
	if (bounce_read_file(strcmp(sl->path, "-") == 0 ? NULL : sl->path, msg, sl->err) < 0)
		sl->fate = BOUNCE_FATE_UNREAD;
	else if (bounce_parse_buffer(bp, msg->s, msg->len, NULL, &sl->rep, sl->err) == 0)
		sl->fate = BOUNCE_FATE_PARSED;
	lock(p);
	sl->ready = true;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->mu);
}

/* A worker process: claims and parses files until there are none left. */
static void
parse_files(struct bounce_pipeline *p, int w)
{
	struct bounce_parser *bp = bounce_parser_new();
	struct buf msg;
	size_t i;

	buf_init(&msg);
	while ((i = atomic_fetch_add(&p->next, 1)) < p->nfiles) {
		bool stop;

		lock(p);
		while (i >= p->printed + PARSE_RING && !p->stop)
			if (pthread_cond_wait(&p->room, &p->mu) == EOWNERDEAD)
				pthread_mutex_consistent(&p->mu);
		stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		p->parsing[w] = i;
		parse_one(p, i, bp, &msg);
		p->parsing[w] = SIZE_MAX;
	}
	buf_free(&msg);
	bounce_parser_free(bp);
}

/* Starts a worker: its pid, or -1. Standard I/O is flushed first, so that
 * nothing buffered is written twice. */
static pid_t
start_worker(struct bounce_pipeline *p, int w)
{
	pid_t pid, parent = getpid();

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == 0) {
		/* Dies with this process: a worker never outlives its run. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		parse_files(p, w);
		_exit(0);
	}
	return pid;
}

/* Whether a worker has died before its work was done: -1 with @err, naming
 * the file it was parsing, when one has. */
static int
check_workers(struct bounce_pipeline *p, pid_t *pids, int n, char *err)
{
	for (int w = 0; w < n; w++) {
		int status;
		size_t i;

		if (pids[w] <= 0 || waitpid(pids[w], &status, WNOHANG) != pids[w])
			continue;
		pids[w] = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			continue;	/* done: nothing left to claim */
		i = p->parsing[w];
		return errf(err, "the parsing process died (%s %d) on %s", WIFSIGNALED(status) ? "signal" : "exit",
			    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			    i < p->nfiles ? p->files[i] : "a message");
	}
	return 0;
}

/* Waits until slot @sl is ready; -1 with @err when a worker died. */
static int
wait_ready(struct bounce_pipeline *p, struct bounce_slot *sl, pid_t *pids, int n, char *err)
{
	int r = 0;

	lock(p);
	while (!sl->ready && r == 0) {
		struct timespec ts;

		deadline_after(CLOCK_REALTIME, PARSE_WAIT_MS / 1000.0, &ts);
		if (pthread_cond_timedwait(&p->ready, &p->mu, &ts) == EOWNERDEAD)
			pthread_mutex_consistent(&p->mu);
		if (!sl->ready)
			r = check_workers(p, pids, n, err);
	}
	pthread_mutex_unlock(&p->mu);
	return r;
}

static struct bounce_pipeline *
pipeline_new(char *const *files, size_t nfiles)
{
	struct bounce_pipeline *p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;

	if (p == MAP_FAILED)
		fatal("bounce: cannot map %zu bytes of shared memory: %s", sizeof(*p), strerror(errno));
	p->files = files;
	p->nfiles = nfiles;
	atomic_init(&p->next, 0);
	for (int w = 0; w < PARSE_WORKERS_MAX; w++)
		p->parsing[w] = SIZE_MAX;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&p->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_cond_init(&p->room, &ca);
	pthread_cond_init(&p->ready, &ca);
	pthread_condattr_destroy(&ca);
	return p;
}

/*
 * This process prints each slot in order as soon as it is ready; while the
 * next one is not, it parses a file itself (one more parser, and no
 * sleeping while there is work): workers + this one = the cores.
 */
static int
from_files(struct bounce_run *run, char *const *files, size_t nfiles, char *err)
{
	struct bounce_pipeline *p = pipeline_new(files, nfiles);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus <= 1 ? 0 : cpus > PARSE_WORKERS_MAX ? PARSE_WORKERS_MAX - 1 : (int)cpus - 1;
	pid_t pids[PARSE_WORKERS_MAX];
	struct bounce_parser *bp;
	struct buf msg;
	int started = 0, r = 0;

	for (int w = 0; w < want && (size_t)w + 1 < nfiles; w++)
		if ((pids[started] = start_worker(p, started)) > 0)
			started++;
	bp = bounce_parser_new();
	buf_init(&msg);
	for (size_t i = 0; i < nfiles && !run->busy && r == 0; i++) {
		struct bounce_slot *sl = &p->ring[i % PARSE_RING];

		for (;;) {
			bool ready;
			size_t k;

			lock(p);
			ready = sl->ready;
			pthread_mutex_unlock(&p->mu);
			if (ready)
				break;
			/* Not ready: parse the next unclaimed file, if the ring
			 * has room for it; else wait. */
			k = atomic_load(&p->next);
			if (k < nfiles && k < i + PARSE_RING &&
			    atomic_compare_exchange_strong(&p->next, &k, k + 1)) {
				parse_one(p, k, bp, &msg);
				continue;
			}
			r = wait_ready(p, sl, pids, started, err);
			break;
		}
		if (r < 0)
			break;
		finish(run, sl->path, &sl->rep, sl->fate, sl->err);
		lock(p);
		sl->ready = false;
		p->printed = i + 1;
		pthread_cond_broadcast(&p->room);
		pthread_mutex_unlock(&p->mu);
	}
	lock(p);
	p->stop = true;
	pthread_cond_broadcast(&p->room);
	pthread_mutex_unlock(&p->mu);
	for (int w = 0; w < started; w++)
		if (pids[w] > 0)
			waitpid(pids[w], NULL, 0);
	pthread_cond_destroy(&p->ready);
	pthread_cond_destroy(&p->room);
	pthread_mutex_destroy(&p->mu);
	munmap(p, sizeof(*p));
	buf_free(&msg);
	bounce_parser_free(bp);
	return r;
}

/* One message on stdin, as an MTA pipe delivers it: -1 with @err when the
 * MTA must keep it and try again. */
static int
from_stdin(struct bounce_run *run, char *err)
{
	const struct bounce_run_opts *o = run->o;
	struct buf msg;
	char kerr[ERR_LEN];
	enum bounce_done d;
	int r = 0;

	buf_init(&msg);
	if (bounce_read_file(NULL, &msg, err) < 0) {
		buf_free(&msg);
		return -1;	/* too large, or a read error: the MTA keeps it and reports */
	}
	d = handle("-", msg.s, msg.len, NULL, run);
	if (d == BOUNCE_FLAG && !o->pol.dry_run) {
		if (bounce_keep(o->keep, msg.s, msg.len, kerr) < 0)
			r = errf(err, "the message cannot be parsed and cannot be kept: %s", kerr);
		else
			log_info("bounce: a message that cannot be parsed is kept in %s", o->keep);
	} else if (d == BOUNCE_DONE && o->keep_handled && !o->pol.dry_run &&
		   bounce_keep(o->keep, msg.s, msg.len, kerr) < 0) {
		/* Handled and committed: a retry by the MTA would act twice. */
		log_error("bounce: the message was handled but cannot be kept ([bounce] keep_handled): %s", kerr);
	}
	buf_free(&msg);
	return r;
}

int
bounce_run(const struct bounce_run_opts *o, bounce_print_fn print, void *arg,
	   struct bounce_run_counts *n, char *err)
{
	struct bounce_run run = {.o = o, .print = print, .arg = arg, .n = n};
	bool retry = false;
	int r = 0;

	memset(n, 0, sizeof(*n));
	n->box.keep = o->keep;
	n->box.keep_handled = o->keep_handled;
	n->box.dry_run = o->pol.dry_run;
	bounce_init();
	switch (o->from) {
	case BOUNCE_FROM_MAILDIR:
		r = bounce_maildir_each(o->path, &n->box, handle, &run, &retry, err) < 0 ? -1 : 0;
		break;
	case BOUNCE_FROM_MBOX:
		r = bounce_mbox_each(o->path, handle, &run, &retry, err) < 0 ? -1 : 0;
		break;
	case BOUNCE_FROM_FILES:
		r = from_files(&run, o->files, o->nfiles, err);
		break;
	case BOUNCE_FROM_STDIN:
		r = from_stdin(&run, err);
		break;
	}
	bounce_parser_free(run.bp);
	return r;
}
