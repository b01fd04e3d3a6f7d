/* Compiles an element-wise kernel for both storage types. An optimizer file
 * writes its kernel once, in plain C over the type T, in its own header
 * (src/optim/NAME_kernel.h), and includes this file with that header's name:
 *
 *     #define DESCENT_KERNEL_FILE "sgd_kernel.h"
 *     #include "kernel_types.h"
 *
 * which reads the kernel header twice: with T = float, names ending in _f32
 * (KERNEL_FN(sgd_body) is sgd_body_f32) and the float math functions, then
 * with T = double, _f64 and the double ones. The kernel's lines are real
 * lines of its header, so a debugger steps through them one by one (the
 * macro bodies they replace were one line each). Not installed. */
#ifndef DESCENT_KERNEL_FILE
#error "define DESCENT_KERNEL_FILE before including kernel_types.h"
#endif

#define DESCENT_PASTE_(a, b) a##_##b
#define DESCENT_PASTE(a, b) DESCENT_PASTE_(a, b)
#define KERNEL_FN(base) DESCENT_PASTE(base, SFX)

#define T float
#define SFX f32
#define SQRT sqrtf
#define FABS fabsf
#define POW powf
#include DESCENT_KERNEL_FILE
#undef T
#undef SFX
#undef SQRT
#undef FABS
#undef POW

#define T double
#define SFX f64
#define SQRT sqrt
#define FABS fabs
#define POW pow
#include DESCENT_KERNEL_FILE
#undef T
#undef SFX
#undef SQRT
#undef FABS
#undef POW

#undef KERNEL_FN
#undef DESCENT_PASTE
#undef DESCENT_PASTE_
#undef DESCENT_KERNEL_FILE
