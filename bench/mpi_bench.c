#include "descent_mpi.h"
int main(void) { return 0; }
