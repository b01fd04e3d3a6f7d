/* Checkpoints of sharded state: rank r of R writes "<prefix>.rank<r>of<R>":
 *
 *   "DSHARD\x1a\0"  u32 version  u32 rank  u32 world  i64 steps
 *   u64 run (version 2: the run identity, drawn at the first save)
 *   u32 tensors; per tensor: u32 group, u8 dtype, u64 n
 *   u32 segments; per segment: u32 group, u8 dtype, u64 total, u64 begin, u64 end
 *   u64 image_len  u32 crc32 of all the above
 *   image: descent_save_mem of the shard optimizer (its own magic and crc)
 *
 * little-endian. Every rank's file of one save carries the same run and
 * steps; loading checks that collectively (all ranks agree or all refuse),
 * so a set mixed from two saves (a crash part-way through one) or from two
 * runs is refused. Version 1 files (no run) still load. Loading with the same R hands each rank's image to
 * descent_load_mem. With another R, a rank rebuilds the shard optimizers of
 * the old ranks whose ranges overlap its new one, loads their images into
 * them (which checks everything), and copies the overlapping elements. */
#include "mpi_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SHARD_MAGIC "DSHARD\x1a"
#define SHARD_VERSION 2u /* 1: without the run identity */
/* More ranks than any checkpoint this library writes in practice; a larger
 * count in a header or file name is refused rather than allocated for. */
#define SHARD_MAX_WORLD (1 << 20)

/* Header fields, in the order written. */
static size_t write_header(const descent_mpi_sharded *s, unsigned char *buf, size_t cap, size_t image_len)
{
    descent_writer w = {buf, cap, 0};
    descent_put_bytes(&w, SHARD_MAGIC, 8);
    descent_put_u(&w, SHARD_VERSION, 4);
    descent_put_u(&w, (uint64_t)s->rank, 4);
    descent_put_u(&w, (uint64_t)s->size, 4);
    descent_put_u(&w, (uint64_t)s->steps, 8);
    descent_put_u(&w, s->run_id, 8);
    descent_put_u(&w, (uint64_t)s->ntensors, 4);
    for (int i = 0; i < s->ntensors; i++) {
        descent_put_u(&w, (uint64_t)s->tensors[i].group, 4);
        descent_put_u(&w, (uint64_t)s->tensors[i].dtype, 1);
        descent_put_u(&w, (uint64_t)s->tensors[i].n, 8);
    }
    descent_put_u(&w, (uint64_t)s->nsegs, 4);
    for (int k = 0; k < s->nsegs; k++) {
        descent_put_u(&w, (uint64_t)s->segs[k].group, 4);
        descent_put_u(&w, (uint64_t)s->segs[k].dtype, 1);
        descent_put_u(&w, (uint64_t)s->segs[k].total, 8);
        descent_put_u(&w, (uint64_t)s->segs[k].begin, 8);
        descent_put_u(&w, (uint64_t)s->segs[k].end, 8);
    }
    descent_put_u(&w, (uint64_t)image_len, 8);
    if (buf && w.pos + 4 <= cap)
        descent_put_u(&w, descent_crc32(0, buf, w.pos), 4);
    else
        w.pos += 4;
    return w.pos;
}

static void shard_path(char *out, size_t cap, const char *prefix, int rank, int world)
{
    snprintf(out, cap, "%s.rank%dof%d", prefix, rank, world);
}

/* ---- save --------------------------------------------------------------- */

static int write_file(const descent_mpi_sharded *s, const char *path, const unsigned char *buf, size_t len)
{
    descent_error e;
    int rc = descent_file_write_atomic(&s->mem, path, buf, len, &e);
    return rc < 0 ? descent_mpi_fail(s, rc, "%s", e.message) : 0;
}

/* A run identity: 64 random bits from the system, or (without
 * /dev/urandom) splitmix64 (Steele, Lea & Flood 2014) over the time and
 * process; never 0, which marks "none" (version 1 files). */
static uint64_t draw_run_id(void)
{
    uint64_t id = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&id, sizeof id, 1, f) != 1)
            id = 0;
        fclose(f);
    }
    if (id == 0) {
        struct timespec ts;
        timespec_get(&ts, TIME_UTC);
        id = descent_mix64((uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32);
    }
    return id ? id : 1;
}

int descent_mpi_sharded_save(const descent_mpi_sharded *s, const char *prefix)
{
    if (!s)
        return DESCENT_ERR_INVALID;
    int rc = s->broken || !s->committed
                 ? descent_mpi_fail(s, DESCENT_ERR_STATE, "save needs a committed, healthy handle")
                 : 0;
    char path[4096];
    if (rc == 0 && (!prefix || strlen(prefix) > sizeof path - 40))
        rc = descent_mpi_fail(s, DESCENT_ERR_INVALID, "prefix must be a path of at most %zu bytes", sizeof path - 40);
    /* The first save of a run draws its identity on rank 0 for all. */
    int agreed = descent_mpi_collective((descent_mpi_sharded *)s, rc);
    if (agreed < 0)
        return agreed;
    if (s->run_id == 0) {
        unsigned long long id = s->rank == 0 ? draw_run_id() : 0;
        if (MPI_Bcast(&id, 1, MPI_UNSIGNED_LONG_LONG, 0, s->comm) != MPI_SUCCESS)
            return descent_mpi_fail(s, DESCENT_ERR_IO, "MPI_Bcast of the run identity failed");
        ((descent_mpi_sharded *)s)->run_id = id;
    }
    unsigned char *buf = NULL;
    if (rc == 0) {
        size_t image_len = 0;
        descent_save_mem(s->opt, NULL, 0, &image_len);
        size_t head = write_header(s, NULL, 0, image_len);
        buf = descent_mem_alloc(&s->mem, head + image_len);
        if (!buf)
            rc = descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory for a checkpoint of %zu bytes", head + image_len);
        else if ((rc = descent_save_mem(s->opt, buf + head, image_len, &image_len)) < 0)
            descent_mpi_fail(s, rc, "%s", descent_errmsg(s->opt));
        else {
            write_header(s, buf, head, image_len);
            shard_path(path, sizeof path, prefix, s->rank, s->size);
            rc = write_file(s, path, buf, head + image_len);
        }
    }
    descent_mem_free(&s->mem, buf);
    return descent_mpi_collective((descent_mpi_sharded *)s, rc);
}

/* ---- load --------------------------------------------------------------- */

typedef struct shard_file {
    unsigned char *data;
    size_t len;
    int rank, world;
    int64_t steps;
    uint64_t run_id; /* 0 in version 1 files */
    const unsigned char *image;
    size_t image_len;
} shard_file;

/* The header's size in a file of this version for this handle's layout. */
static size_t header_size(const descent_mpi_sharded *s, uint64_t version)
{
    return 8 + 4 + 4 + 4 + 8 + (version >= 2 ? 8 : 0) + 4 + 13 * (size_t)s->ntensors + 4 + 37 * (size_t)s->nsegs + 8 +
           4;
}

/* Check the header (its first n bytes of a file of size bytes) against
 * this handle's tensors; fill rank, world, steps, run and where the image
 * is. The segments' ranges must be those of the file's rank. */
static int parse_header(const descent_mpi_sharded *s, const char *path, const unsigned char *data, size_t have,
                        size_t size, shard_file *f)
{
    descent_reader r = {data, have, 0, 0};
    if (have < 8 || memcmp(data, SHARD_MAGIC, 8) != 0)
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s is not a descent shard checkpoint (bad magic)", path);
    r.pos = 8;
    uint64_t version = descent_get_u(&r, 4), rank = descent_get_u(&r, 4), world = descent_get_u(&r, 4);
    int64_t steps = (int64_t)descent_get_u(&r, 8);
    if (!r.bad && (version < 1 || version > SHARD_VERSION))
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s: format version %llu, this library reads 1 to %u", path,
                                (unsigned long long)version, SHARD_VERSION);
    uint64_t run_id = version >= 2 ? descent_get_u(&r, 8) : 0;
    if (!r.bad && (world == 0 || world > SHARD_MAX_WORLD || rank >= world || steps < 0))
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s: rank %llu of %llu is impossible", path,
                                (unsigned long long)rank, (unsigned long long)world);
    uint64_t ntensors = descent_get_u(&r, 4);
    if (!r.bad && ntensors != (uint64_t)s->ntensors)
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s has %llu tensors, this handle %d", path,
                                (unsigned long long)ntensors, s->ntensors);
    for (int i = 0; !r.bad && i < s->ntensors; i++) {
        uint64_t g = descent_get_u(&r, 4), d = descent_get_u(&r, 1), n = descent_get_u(&r, 8);
        const shard_tensor *t = &s->tensors[i];
        if (!r.bad && (g != (uint64_t)t->group || d != (uint64_t)t->dtype || n != (uint64_t)t->n))
            return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT,
                                    "%s: tensor %d is group %llu, %s, %llu elements; this handle's is group %d, %s, "
                                    "%zu elements",
                                    path, i, (unsigned long long)g, d == DESCENT_F64 ? "f64" : "f32",
                                    (unsigned long long)n, t->group, t->dtype == DESCENT_F64 ? "f64" : "f32", t->n);
    }
    uint64_t nsegs = descent_get_u(&r, 4);
    if (!r.bad && nsegs != (uint64_t)s->nsegs)
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s has %llu segments, this handle %d", path,
                                (unsigned long long)nsegs, s->nsegs);
    for (int k = 0; !r.bad && k < s->nsegs; k++) {
        uint64_t g = descent_get_u(&r, 4), d = descent_get_u(&r, 1), total = descent_get_u(&r, 8), b = descent_get_u(&r, 8), e = descent_get_u(&r, 8);
        const shard_segment *seg = &s->segs[k];
        if (!r.bad && (g != (uint64_t)seg->group || d != (uint64_t)seg->dtype || total != (uint64_t)seg->total ||
                       b != descent_mpi_split(seg->total, (int)rank, (int)world) ||
                       e != descent_mpi_split(seg->total, (int)rank + 1, (int)world)))
            return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s: segment %d does not match this layout", path, k);
    }
    uint64_t image_len = descent_get_u(&r, 8);
    size_t head = r.pos;
    uint32_t crc = (uint32_t)descent_get_u(&r, 4);
    if (r.bad)
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s is truncated (in the header)", path);
    if (descent_crc32(0, data, head) != crc)
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s: header checksum mismatch: the file is corrupt", path);
    if (image_len != size - r.pos)
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s is truncated or padded: image of %zu bytes, header says %llu",
                                path, size - r.pos, (unsigned long long)image_len);
    if (steps > ((int64_t)1 << 53))
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s: step count %lld is beyond 2^53", path, (long long)steps);
    f->rank = (int)rank;
    f->world = (int)world;
    f->steps = steps;
    f->run_id = run_id;
    f->image_len = (size_t)image_len;
    return 0;
}

typedef struct shard_read {
    const descent_mpi_sharded *s;
    const char *path;
    shard_file *f;
    int failed; /* the message is in s */
} shard_read;

static int shard_check(void *ctx, const unsigned char *head, size_t n, size_t size, descent_error *err)
{
    (void)err;
    shard_read *sr = ctx;
    descent_reader v = {head, n, 8, 0};
    uint64_t version = descent_get_u(&v, 4);
    int rc = parse_header(sr->s, sr->path, head, n < header_size(sr->s, version) ? n : header_size(sr->s, version), size,
                          sr->f);
    sr->failed = rc < 0;
    return rc;
}

/* The file whole, its header checked before the rest is allocated. */
static int read_file(const descent_mpi_sharded *s, const char *path, shard_file *f)
{
    memset(f, 0, sizeof *f);
    shard_read sr = {s, path, f, 0};
    void *data;
    descent_error e;
    int rc = descent_file_read_checked(&s->mem, path, header_size(s, SHARD_VERSION), shard_check, &sr, &data, &f->len,
                                       &e);
    if (rc < 0)
        return sr.failed ? rc : descent_mpi_fail(s, rc, "%s", e.message);
    f->data = data;
    f->image = f->data + (f->len - f->image_len);
    return 0;
}

/* Every rank's files must come from one save: the same run and step count
 * on all ranks, or every rank refuses. */
static int same_save(descent_mpi_sharded *s, int rc, uint64_t run_id, int64_t steps)
{
    unsigned long long mine[5] = {rc < 0, run_id, ~(unsigned long long)run_id, (unsigned long long)steps,
                                  ~(unsigned long long)steps},
                       all[5];
    if (MPI_Allreduce(mine, all, 5, MPI_UNSIGNED_LONG_LONG, MPI_MAX, s->comm) != MPI_SUCCESS)
        return descent_mpi_fail(s, DESCENT_ERR_IO, "MPI_Allreduce of the checkpoint identity failed");
    if (all[0])
        return rc; /* a rank failed already: descent_mpi_collective names it */
    unsigned long long id_lo = ~all[2], steps_lo = ~all[4];
    if (all[1] != id_lo || all[3] != steps_lo)
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT,
                                "the ranks' shard files come from different saves (steps %llu to %llu%s): a save did not "
                                "complete on every rank; load an earlier checkpoint",
                                steps_lo, all[3], all[1] != id_lo ? ", different runs" : "");
    return 0;
}



/* The number of ranks the checkpoint was written with: this R when rank 0's
 * file for it exists, else the single R' with a "<prefix>.rank0of<R'>". */
static int find_world(const descent_mpi_sharded *s, const char *prefix, int *world)
{
    char path[4096 + 40];
    shard_path(path, sizeof path, prefix, 0, s->size);
    if (access(path, R_OK) == 0) {
        *world = s->size;
        return 0;
    }
    const char *slash = strrchr(prefix, '/');
    char dir[4096];
    const char *base = prefix;
    if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - prefix) ? (int)(slash - prefix) : 1, prefix);
        base = slash + 1;
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    DIR *d = opendir(dir);
    if (!d)
        return descent_mpi_fail(s, DESCENT_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
    size_t blen = strlen(base);
    int found = 0, count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *name = e->d_name;
        if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".rank0of", 8) != 0)
            continue;
        char *end;
        long w = strtol(name + blen + 8, &end, 10);
        if (*end != '\0' || w < 1 || w > SHARD_MAX_WORLD)
            continue;
        if (count++ == 0 || w < found)
            found = (int)w;
    }
    closedir(d);
    if (count == 0)
        return descent_mpi_fail(s, DESCENT_ERR_IO, "no shard checkpoint %s.rank0of<R> found", prefix);
    if (count > 1)
        return descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT,
                                "%d shard checkpoints %s.rank0of<R> with different R and none with R = %d; remove "
                                "the stale ones",
                                count, prefix, s->size);
    *world = found;
    return 0;
}

/* Rank q's piece [*lo, *hi) of tensor t (tensor coordinates) among R ranks. */
static void piece(const descent_mpi_sharded *s, const shard_tensor *t, int q, int R, size_t *lo, size_t *hi)
{
    size_t total = s->segs[t->segment].total;
    size_t a = descent_mpi_split(total, q, R), b = descent_mpi_split(total, q + 1, R);
    a = a > t->offset ? a : t->offset;
    b = b < t->offset + t->n ? b : t->offset + t->n;
    *lo = a - t->offset;
    *hi = b > a ? b - t->offset : a - t->offset;
}

/* The shard optimizer rank q of R had: same groups and schedule as ours,
 * tensors pointing at the caller's parameters (never stepped). */
static int old_optimizer(const descent_mpi_sharded *s, int q, int R, descent_optimizer **out)
{
    descent_error e;
    descent_optimizer *opt = NULL;
    descent_hparams defaults;
    descent_default_hparams(s->opt, &defaults);
    int rc = descent_create(&opt, &defaults, &s->mem.a, &e);
    if (rc < 0)
        return descent_mpi_fail(s, rc, "%s", e.message);
    for (int g = 0; rc >= 0 && g < descent_num_groups(s->opt); g++) {
        descent_hparams hp;
        descent_get_hparams_sized(s->opt, g, &hp, sizeof hp);
        rc = descent_add_group(opt, &hp);
    }
    const char *spec = descent_schedule_spec(s->opt);
    if (rc >= 0 && spec)
        rc = descent_set_schedule(opt, spec);
    for (int i = 0; rc >= 0 && i < s->ntensors; i++) {
        const shard_tensor *t = &s->tensors[i];
        size_t lo, hi;
        piece(s, t, q, R, &lo, &hi);
        if (hi > lo) {
            unsigned char *p = (unsigned char *)t->param + lo * descent_mpi_elem(t->dtype);
            rc = descent_add_tensor(opt, t->group, p, p, hi - lo, t->dtype);
        }
    }
    if (rc < 0) {
        int status = descent_mpi_fail(s, rc, "rebuilding rank %d of %d's shard: %s", q, R, descent_errmsg(opt));
        descent_destroy(opt);
        return status;
    }
    *out = opt;
    return 0;
}

static int load_same_world(descent_mpi_sharded *s, const char *prefix)
{
    char path[4096 + 40];
    shard_path(path, sizeof path, prefix, s->rank, s->size);
    shard_file f;
    int rc = read_file(s, path, &f);
    if (rc == 0 && (f.rank != s->rank || f.world != s->size))
        rc = descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s says rank %d of %d", path, f.rank, f.world);
    rc = same_save(s, rc, f.run_id, f.steps);
    int agreed = descent_mpi_collective(s, rc);
    if (agreed == 0) {
        rc = descent_load_mem(s->opt, f.image, f.image_len);
        if (rc < 0)
            descent_mpi_fail(s, rc, "%s: %s", path, descent_errmsg(s->opt));
        else {
            s->steps = f.steps;
            s->run_id = f.run_id;
        }
        agreed = descent_mpi_collective(s, rc);
        if (agreed < 0)
            s->broken = 1; /* some ranks loaded, some did not */
    }
    descent_mem_free(&s->mem, f.data);
    return agreed;
}

/* Copy the state of the old shard optimizer `old` (rank q of R) into ours
 * where their pieces overlap. */
static void copy_overlap(descent_mpi_sharded *s, const descent_optimizer *old, int q, int R)
{
    int jo = 0, jn = 0;
    for (int i = 0; i < s->ntensors; i++) {
        const shard_tensor *t = &s->tensors[i];
        size_t olo, ohi, nlo, nhi;
        piece(s, t, q, R, &olo, &ohi);
        piece(s, t, s->rank, s->size, &nlo, &nhi);
        int has_old = ohi > olo, has_new = nhi > nlo;
        if (has_old && has_new) {
            descent_tensor_copy_scalars(s->opt, jn, old, jo);
            size_t a = olo > nlo ? olo : nlo, b = ohi < nhi ? ohi : nhi;
            size_t es = descent_mpi_elem(t->dtype);
            /* Both optimizers run one algorithm: the same buffers, in order,
             * of the tensor's dtype (8-bit state is refused when sharded).
             * The old optimizer is ours to write: it is never stepped. */
            int nstate = descent_state_count(s->opt, jn);
            for (int k = 0; b > a && k < nstate; k++) {
                const char *name = descent_state_name(s->opt, jn, k);
                void *from = NULL, *to = NULL;
                size_t nfrom = 0, nto = 0;
                if (descent_state_buffer((descent_optimizer *)(uintptr_t)old, jo, name, &from, &nfrom) == 0 &&
                    descent_state_buffer(s->opt, jn, name, &to, &nto) == 0 && nfrom >= ohi - olo &&
                    nto >= nhi - nlo)
                    memcpy((unsigned char *)to + (a - nlo) * es, (const unsigned char *)from + (a - olo) * es,
                           (b - a) * es);
            }
        }
        jo += has_old;
        jn += has_new;
    }
}

static int overlaps(const descent_mpi_sharded *s, int q, int R)
{
    for (int i = 0; i < s->ntensors; i++) {
        size_t olo, ohi, nlo, nhi;
        piece(s, &s->tensors[i], q, R, &olo, &ohi);
        piece(s, &s->tensors[i], s->rank, s->size, &nlo, &nhi);
        size_t a = olo > nlo ? olo : nlo, b = ohi < nhi ? ohi : nhi;
        if (b > a)
            return 1;
    }
    return 0;
}

static int load_reshard(descent_mpi_sharded *s, const char *prefix, int R)
{
    descent_optimizer **old = descent_mem_alloc(&s->mem, (size_t)R * sizeof *old);
    int rc = old ? 0 : descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory");
    int64_t steps = 0;
    uint64_t run_id = 0;
    int any = 0, first = -1;
    /* Check phase: every needed old shard rebuilt and loaded into a scratch
     * optimizer; nothing of ours changes yet. Rank 0's file is always read:
     * it carries the hyperparameters and schedule when we own nothing. */
    for (int q = 0; rc == 0 && q < R; q++) {
        if (q != 0 && !overlaps(s, q, R))
            continue;
        char path[4096 + 40];
        shard_path(path, sizeof path, prefix, q, R);
        shard_file f;
        rc = read_file(s, path, &f);
        if (rc == 0 && (f.rank != q || f.world != R))
            rc = descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s says rank %d of %d", path, f.rank, f.world);
        if (rc == 0)
            rc = old_optimizer(s, q, R, &old[q]);
        if (rc == 0 && (rc = descent_load_mem(old[q], f.image, f.image_len)) < 0)
            descent_mpi_fail(s, rc, "%s: %s", path, descent_errmsg(old[q]));
        if (rc == 0 && any && (f.steps != steps || f.run_id != run_id))
            rc = descent_mpi_fail(s, DESCENT_ERR_CHECKPOINT, "%s is at step %lld, rank %d's file at %lld%s", path,
                                  (long long)f.steps, first, (long long)steps,
                                  f.run_id != run_id ? " (of another run)" : "");
        if (rc == 0 && !any) {
            any = 1;
            first = q;
            steps = f.steps;
            run_id = f.run_id;
        }
        descent_mem_free(&s->mem, f.data);
    }
    /* The schedule section of the old shard is applied to ours. */
    unsigned char *sched = NULL;
    size_t slen = 0;
    if (rc == 0) {
        slen = descent_schedule_save(old[0], NULL, 0);
        sched = descent_mem_alloc(&s->mem, slen + 1);
        if (!sched)
            rc = descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory");
        else {
            descent_schedule_save(old[0], sched, slen);
            descent_error e;
            if ((rc = descent_schedule_load(s->opt, sched, slen, 0, &e)) < 0)
                descent_mpi_fail(s, rc, "%s", e.message);
        }
    }
    rc = same_save(s, rc, run_id, steps);
    int agreed = descent_mpi_collective(s, rc);
    if (agreed == 0) {
        s->run_id = run_id;
        for (int g = 0; g < descent_num_groups(s->opt); g++)
            descent_group_copy(s->opt, old[0], g);
        for (int q = 0; q < R; q++)
            if (old[q])
                copy_overlap(s, old[q], q, R);
        descent_error e;
        descent_schedule_load(s->opt, sched, slen, 1, &e);
        s->steps = steps;
    }
    descent_mem_free(&s->mem, sched);
    for (int q = 0; old && q < R; q++)
        descent_destroy(old[q]);
    descent_mem_free(&s->mem, old);
    return agreed;
}

int descent_mpi_sharded_load(descent_mpi_sharded *s, const char *prefix)
{
    if (!s)
        return DESCENT_ERR_INVALID;
    int rc = s->broken || !s->committed
                 ? descent_mpi_fail(s, DESCENT_ERR_STATE, "load needs a committed, healthy handle")
                 : 0;
    if (rc == 0 && (!prefix || strlen(prefix) > 4000))
        rc = descent_mpi_fail(s, DESCENT_ERR_INVALID, "prefix must be a path of at most 4000 bytes");
    /* Rank 0 decides which R the files were written with. */
    int world = 0;
    if (rc == 0 && s->rank == 0)
        rc = find_world(s, prefix, &world);
    int agreed = descent_mpi_collective(s, rc);
    if (agreed < 0)
        return agreed;
    if (MPI_Bcast(&world, 1, MPI_INT, 0, s->comm) != MPI_SUCCESS)
        return descent_mpi_fail(s, DESCENT_ERR_IO, "MPI_Bcast failed");
    return world == s->size ? load_same_world(s, prefix) : load_reshard(s, prefix, world);
}
