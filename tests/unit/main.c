/* main.c - runs every registered unit test and prints "unit: N passed, N failed". */
#include "test.h"

#include <stdlib.h>

int test_failures;
static struct test_case cases[512];
static int ncases;

void test_register(const char *name, test_fn fn)
{
	if (ncases < 512)
		cases[ncases++] = (struct test_case){name, fn};
}

int main(void)
{
	int passed = 0, failed = 0;
	for (int i = 0; i < ncases; i++) {
		int before = test_failures;
		cases[i].fn();
		if (test_failures == before) {
			passed++;
			printf("  ok   %s\n", cases[i].name);
		} else {
			failed++;
			printf("  FAIL %s\n", cases[i].name);
		}
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
