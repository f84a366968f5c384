/* defer.c - suspending a request: until the writer commits its job (http_defer), or
 * while a worker thread does slow work for it (http_offload, the worker pool). */
#include "conn.h"

#include <pthread.h>
#include <stddef.h>

static void defer_done(struct wjob *job, int rc)
{
	struct conn *c = (struct conn *)((char *)job - offsetof(struct conn, req.job));
	c->req.finish(&c->req, rc);
	atomic_store(&c->ready, 1);
	MHD_resume_connection(c->mc);
}

static enum hres defer(struct http_req *r, wjob_fn fn, void *arg, void (*finish)(struct http_req *r, int rc),
		       int single)
{
	struct conn *c = r->glue;
	r->finish = finish;
	r->job.fn = fn;
	r->job.arg = arg;
	r->job.done = defer_done;
	r->job.single = single;
	MHD_suspend_connection(c->mc);
	if (writer_submit(r->w->writer, &r->job) < 0) {
		/* shutting down: answer at once */
		MHD_resume_connection(c->mc);
		finish(r, -1);
		atomic_store(&c->ready, 1);
	}
	return H_ASYNC;
}

enum hres http_defer(struct http_req *r, wjob_fn fn, void *arg, void (*finish)(struct http_req *r, int rc))
{
	return defer(r, fn, arg, finish, 0);
}

enum hres http_defer_single(struct http_req *r, wjob_fn fn, void *arg, void (*finish)(struct http_req *r, int rc))
{
	return defer(r, fn, arg, finish, 1);
}

/* ---- the worker pool ---- */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static struct conn *pool_head, *pool_tail;
static int pool_stopping;
static pthread_t pool_threads[WORKER_THREADS];
static int pool_started;

static void *pool_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool_mu);
	for (;;) {
		while (!pool_head && !pool_stopping)
			pthread_cond_wait(&pool_cv, &pool_mu);
		if (!pool_head)
			break;
		struct conn *c = pool_head;
		pool_head = c->pool.next;
		if (!pool_head)
			pool_tail = NULL;
		pthread_mutex_unlock(&pool_mu);
		c->pool.work(&c->req);
		atomic_store(&c->ready, 1);
		MHD_resume_connection(c->mc);
		pthread_mutex_lock(&pool_mu);
	}
	pthread_mutex_unlock(&pool_mu);
	return NULL;
}

enum hres http_offload(struct http_req *r, void (*work)(struct http_req *r))
{
	struct conn *c = r->glue;
	c->pool.work = work;
	c->pool.next = NULL;
	MHD_suspend_connection(c->mc);
	pthread_mutex_lock(&pool_mu);
	if (pool_tail)
		pool_tail->pool.next = c;
	else
		pool_head = c;
	pool_tail = c;
	pthread_cond_signal(&pool_cv);
	pthread_mutex_unlock(&pool_mu);
	return H_ASYNC;
}

int pool_start(void)
{
	pool_stopping = 0;
	for (int i = pool_started; i < WORKER_THREADS; i++)
		if (pthread_create(&pool_threads[pool_started], NULL, pool_main, NULL) == 0)
			pool_started++;
	return pool_started;
}

void pool_stop(void)
{
	pthread_mutex_lock(&pool_mu);
	pool_stopping = 1;
	pthread_cond_broadcast(&pool_cv);
	pthread_mutex_unlock(&pool_mu);
	for (int i = 0; i < pool_started; i++)
		pthread_join(pool_threads[i], NULL);
	pool_started = 0;
}
