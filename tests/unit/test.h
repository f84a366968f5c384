/* test.h - a tiny unit-test harness: CHECK() records failures, TEST() registers. */
#ifndef WARRANT_TEST_H
#define WARRANT_TEST_H
#include <stdio.h>
#include <string.h>

extern int test_failures;
#define CHECK(cond)                                                                                  \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			test_failures++;                                                             \
			fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		}                                                                                    \
	} while (0)
#define CHECK_STR(a, b)                                                                                          \
	do {                                                                                                     \
		const char *a_ = (a), *b_ = (b);                                                                 \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                         \
			test_failures++;                                                                         \
			fprintf(stderr, "    %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, a_ ? a_ : "(null)", \
				b_ ? b_ : "(null)");                                                             \
		}                                                                                                \
	} while (0)

typedef void (*test_fn)(void);
struct test_case {
	const char *name;
	test_fn fn;
};
void test_register(const char *name, test_fn fn);
#define TEST(name)                                                                                \
	static void name(void);                                                                   \
	__attribute__((constructor)) static void reg_##name(void) { test_register(#name, name); } \
	static void name(void)
#endif
