/* A test program that makes no check must fail (testutil.c t_done): this
 * one makes none, and ctest expects it to fail (WILL_FAIL). */
#include "testutil.h"

int main(void) { return t_done(); }
