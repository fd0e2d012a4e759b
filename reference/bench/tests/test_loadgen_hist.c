/*
 * test_loadgen_hist.c - mqws-loadgen's latency histogram: quantiles within the
 * bucket width (0.4 %), exact below 512, the maximum kept exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../loadgen.h"

static lg_hist h; /* large: not on the stack */

static void test_uniform_quantiles(void **state)
{
    (void)state;
    memset(&h, 0, sizeof h);
    for (uint64_t v = 1; v <= 1000000; v++)
        lg_hist_add(&h, v);
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double want = qs[i] * 1e6;
        double got = (double)lg_hist_quantile(&h, qs[i]);
        assert_true(got >= want * 0.996 && got <= want * 1.004);
    }
    assert_int_equal(lg_hist_quantile(&h, 1.0), 1000000);
    assert_int_equal(h.total, 1000000);
}

static void test_small_values_exact(void **state)
{
    (void)state;
    memset(&h, 0, sizeof h);
    for (uint64_t v = 0; v < 512; v++)
        lg_hist_add(&h, v);
    assert_int_equal(lg_hist_quantile(&h, 0.5), 255);
    assert_int_equal(lg_hist_quantile(&h, 1.0 / 512), 0);
}

static void test_extremes(void **state)
{
    (void)state;
    memset(&h, 0, sizeof h);
    assert_int_equal(lg_hist_quantile(&h, 0.99), 0); /* empty */
    lg_hist_add(&h, 37);
    lg_hist_add(&h, (uint64_t)1 << 40);
    lg_hist_add(&h, UINT64_MAX); /* clamped into the last bucket, max exact */
    assert_int_equal(lg_hist_quantile(&h, 0.3), 37);
    assert_true(h.max == UINT64_MAX);
    assert_true(lg_hist_quantile(&h, 1.0) <= h.max);
    uint64_t mid = lg_hist_quantile(&h, 0.6);
    assert_true(mid >= ((uint64_t)1 << 40) - ((uint64_t)1 << 32) &&
                mid <= ((uint64_t)1 << 40) + ((uint64_t)1 << 32));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform_quantiles),
        cmocka_unit_test(test_small_values_exact),
        cmocka_unit_test(test_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
