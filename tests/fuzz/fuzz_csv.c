/* libFuzzer target: the CSV loader, with and without a header row. */
#include "descent.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/descent-fuzz-csv-%d.csv", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    for (int header = 0; header < 2; header++) {
        descent_table t;
        descent_error err;
        if (descent_table_read_csv(&t, path, header, &err) == 0) {
            double sum = 0;
            for (size_t i = 0; i < t.rows * t.cols; i++)
                sum += t.values[i];
            (void)sum;
            descent_table_free(&t);
        }
    }
    return 0;
}
