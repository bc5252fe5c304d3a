/* INCRBYFLOAT arithmetic in C's long double (x87 80-bit on x86-64), because
 * Valkey computes and prints it that way and Rust has no such type. Parsing
 * follows Valkey's string2ld and printing its ld2string(LD_STR_HUMAN), so the
 * reply text matches byte for byte. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *end;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || end[0] != '\0' ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Adds `incr` to `cur` (NULL: the key is missing, so 0) and writes the text of
 * the sum to `out`. Returns its length, -1 when an operand is not a valid
 * float, -2 when the sum is NaN or infinite, -3 when `out` is too small. */
long ferrokv_ld_incr(const char *cur, size_t cur_len, const char *incr, size_t incr_len,
                     char *out, size_t out_cap) {
    long double value = 0, by;
    int n;
    if (cur != NULL && !parse_ld(cur, cur_len, &value)) return -1;
    if (!parse_ld(incr, incr_len, &by)) return -1;
    value += by;
    if (isnan(value) || isinf(value)) return -2;
    n = snprintf(out, out_cap, "%.17Lf", value);
    if (n < 0 || (size_t)n + 1 > out_cap) return -3;
    if (strchr(out, '.') != NULL) {
        while (out[n - 1] == '0') n--;
        if (out[n - 1] == '.') n--;
    }
    if (n == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        n = 1;
    }
    return n;
}
