/* The list of optimizers: adding one means adding its file and a line here. */
#include "internal.h"

extern const descent_algo descent_algo_sgd, descent_algo_adagrad, descent_algo_rmsprop,
    descent_algo_adadelta, descent_algo_adam, descent_algo_adamw, descent_algo_amsgrad,
    descent_algo_nadam, descent_algo_adamax, descent_algo_radam;
extern const descent_algo descent_algo_rprop, descent_algo_asgd, descent_algo_lion, descent_algo_yogi,
    descent_algo_adabelief;
extern const descent_algo descent_algo_ftrl, descent_algo_schedule_free_sgd, descent_algo_schedule_free_adamw,
    descent_algo_lamb, descent_algo_adafactor;

const descent_algo *const descent_algos[] = {
    &descent_algo_sgd,     &descent_algo_adagrad, &descent_algo_rmsprop, &descent_algo_adadelta,
    &descent_algo_adam,    &descent_algo_adamw,   &descent_algo_amsgrad, &descent_algo_nadam,
    &descent_algo_adamax,  &descent_algo_radam,
    &descent_algo_rprop,   &descent_algo_asgd,    &descent_algo_lion,    &descent_algo_yogi,
    &descent_algo_adabelief,
    &descent_algo_ftrl,    &descent_algo_schedule_free_sgd, &descent_algo_schedule_free_adamw,
    &descent_algo_lamb,    &descent_algo_adafactor,
};

const int descent_algo_count = (int)(sizeof descent_algos / sizeof descent_algos[0]);
