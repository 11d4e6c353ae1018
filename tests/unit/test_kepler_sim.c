/* kepler-sim's core (services/kepler-sim/sim.c, page.c): the truth holds over any interval, the
   state does not depend on when it is looked at, and restarts, splits and periods add up. */
#include "kms_test.h"

#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static sim_t *s_new_truth(double noise, size_t containers, sim_truth_kind_t truth)
{
    sim_options_t options = {containers, 42, noise, SIM_RAPL_MAX, 0, "node-1", "Zen 4", truth, 0};
    sim_t *sim = sim_new(&options, 100.0);
    assert_non_null(sim);
    return sim;
}

static sim_t *s_new(double noise, size_t containers)
{
    return s_new_truth(noise, containers, SIM_TRUTH_LINEAR);
}

static double s_rel(double a, double b)
{
    return fabs(a - b) / (fabs(b) > 1e-12 ? fabs(b) : 1.0);
}

static double s_node_total(const sim_t *sim, int comp)
{
    return sim->node.energy[comp][SIM_DYNAMIC] + sim->node.energy[comp][SIM_IDLE];
}

static void s_feature_sums(const sim_t *sim, double out[SIM_FEATURES])
{
    memset(out, 0, sizeof(double) * SIM_FEATURES);
    for (size_t i = 0; i < sim->count; i++)
        for (int f = 0; f < SIM_FEATURES; f++)
            out[f] += sim->containers[i].counter[f];
}

/* Looking at the state often or rarely must not change it: usage draws happen per step. */
static void test_state_does_not_depend_on_scrape_times(void **state)
{
    (void) state;
    sim_t *once = s_new(0.02, 7), *often = s_new(0.02, 7);
    sim_advance(once, 131.3);
    for (double t = 100.0; t < 131.3; t += 0.37)
        sim_advance(often, t);
    sim_advance(often, 131.3);
    for (size_t i = 0; i < once->count; i++)
        for (int f = 0; f < SIM_FEATURES; f++)
            assert_true(s_rel(often->containers[i].counter[f], once->containers[i].counter[f]) < 1e-9);
    for (int comp = 0; comp < SIM_COMPONENTS; comp++)
        assert_true(s_rel(s_node_total(often, comp), s_node_total(once, comp)) < 1e-9);
    sim_advance(once, 120.0); /* the past is ignored */
    assert_true(once->now == 131.3);
    sim_destroy(&once);
    sim_destroy(&often);
    assert_null(once);
    sim_destroy(&once); /* idempotent */
}

/* Without noise, core energy over [t1, t2] is bias * (t2 - t1) + weights . counter increments,
   for intervals that start and end anywhere within steps. */
static void test_truth_holds_over_any_interval(void **state)
{
    (void) state;
    sim_t *sim = s_new(0, 20);
    sim_truth_t truth[SIM_COMPONENTS];
    sim_truth(SIM_TRUTH_LINEAR, truth);
    const double times[] = {100.25, 103.7, 103.71, 109.0, 117.33, 150.999};
    double before[SIM_FEATURES], after[SIM_FEATURES];
    sim_advance(sim, times[0]);
    for (size_t k = 1; k < sizeof times / sizeof times[0]; k++) {
        s_feature_sums(sim, before);
        double e_before[SIM_COMPONENTS];
        for (int comp = 0; comp < SIM_COMPONENTS; comp++)
            e_before[comp] = s_node_total(sim, comp);
        sim_advance(sim, times[k]);
        s_feature_sums(sim, after);
        double seconds = times[k] - times[k - 1];
        const int comps[] = {SIM_CORE, SIM_UNCORE, SIM_OTHER};
        for (size_t j = 0; j < 3; j++) {
            const sim_truth_t *t = &truth[comps[j]];
            double expected = t->bias * seconds;
            for (int f = 0; f < SIM_RESIDENT_MEMORY; f++)
                expected += t->weight[f] * (after[f] - before[f]);
            assert_true(s_rel(s_node_total(sim, comps[j]) - e_before[comps[j]], expected) < 1e-9);
        }
    }
    sim_destroy(&sim);
}

/* The curved truth, without noise: within a step, core energy is the curve of the node's cpu
   time rate times the interval, and no linear function of the counters gives it (two steps at
   different rates would have to share one slope). */
static void test_log_truth_holds_within_steps(void **state)
{
    (void) state;
    sim_t *sim = s_new_truth(0, 20, SIM_TRUTH_LOG);
    sim_truth_t truth[SIM_COMPONENTS];
    sim_truth(SIM_TRUTH_LOG, truth);
    assert_true(truth[SIM_CORE].log_amplitude > 0 && truth[SIM_PACKAGE].log_amplitude > 0);
    assert_true(truth[SIM_CORE].weight[SIM_CPU_TIME] == 0 && truth[SIM_UNCORE].log_amplitude == 0);
    double lo = INFINITY, hi = 0;
    for (double t = 100.2; t < 160; t += 1.0) {
        double before[SIM_FEATURES], after[SIM_FEATURES], rate[SIM_FEATURES];
        sim_advance(sim, t);
        s_feature_sums(sim, before);
        double e = s_node_total(sim, SIM_CORE);
        sim_advance(sim, t + 0.6); /* within the step that started at t - 0.2 */
        s_feature_sums(sim, after);
        for (int f = 0; f < SIM_FEATURES; f++)
            rate[f] = (after[f] - before[f]) / 0.6;
        double want = sim_truth_watts(&truth[SIM_CORE], rate) * 0.6;
        assert_true(s_rel(s_node_total(sim, SIM_CORE) - e, want) < 1e-9);
        lo = fmin(lo, rate[SIM_CPU_TIME]);
        hi = fmax(hi, rate[SIM_CPU_TIME]);
    }
    assert_true(hi > 1.5 * lo); /* the usage spans the bend */
    char *json = sim_truth_json(sim);
    assert_non_null(strstr(json, "\"truth\": \"log\""));
    assert_non_null(strstr(json, "\"knee\": 0.5"));
    free(json);
    sim_destroy(&sim);
}

/* Each step's error is one draw clipped to 3 noise, the same for every component. */
/* Core energy over an interval, less what the truth gives it: 0 when the truth holds. */
static double s_core_misfit(sim_t *sim, const sim_truth_t *t, double from, double to)
{
    double before[SIM_FEATURES], after[SIM_FEATURES];
    sim_advance(sim, from);
    s_feature_sums(sim, before);
    double e = s_node_total(sim, SIM_CORE);
    sim_advance(sim, to);
    s_feature_sums(sim, after);
    double want = t->bias * (to - from);
    for (int f = 0; f < SIM_FEATURES; f++)
        if (f != SIM_RESIDENT_MEMORY)
            want += t->weight[f] * (after[f] - before[f]);
    return s_rel(s_node_total(sim, SIM_CORE) - e, want);
}

/* A change of truth holds from the next step on, for every component, and 1 restores it. */
static void test_a_truth_change_holds_from_the_next_step_and_1_restores_it(void **state)
{
    (void) state;
    sim_t *sim = s_new(0, 20);
    sim_truth_t base[SIM_COMPONENTS], changed[SIM_COMPONENTS];
    sim_truth(SIM_TRUTH_LINEAR, base);
    assert_true(s_core_misfit(sim, &base[SIM_CORE], 100.5, 110.5) < 1e-9);
    sim_change_truth(sim, 1.5);
    memcpy(changed, sim->truth, sizeof changed);
    for (int comp = 0; comp < SIM_COMPONENTS; comp++) {
        assert_true(s_rel(changed[comp].bias, 1.5 * base[comp].bias) < 1e-12);
        for (int f = 0; f < SIM_FEATURES; f++)
            assert_true(s_rel(changed[comp].weight[f], 1.5 * base[comp].weight[f]) < 1e-12);
    }
    assert_true(s_core_misfit(sim, &changed[SIM_CORE], 111, 130) < 1e-9);
    assert_true(s_core_misfit(sim, &base[SIM_CORE], 130, 140) > 0.2);
    sim_change_truth(sim, 1);
    assert_true(s_core_misfit(sim, &base[SIM_CORE], 141, 150) < 1e-9);
    assert_int_equal(sim->truth_changes, 2);
    char *json = sim_truth_json(sim);
    assert_non_null(strstr(json, "\"truth_changes\": 2"));
    free(json);
    sim_destroy(&sim);
}

static void test_noise_is_bounded_and_present(void **state)
{
    (void) state;
    double noise = 0.05;
    sim_t *noisy = s_new(noise, 10), *clean = s_new(0, 10);
    double lo = 1, hi = -1;
    for (int k = 1; k <= 60; k++) {
        double e_noisy = s_node_total(noisy, SIM_PLATFORM);
        double e_clean = s_node_total(clean, SIM_PLATFORM);
        sim_advance(noisy, 100.0 + k);
        sim_advance(clean, 100.0 + k);
        double error = (s_node_total(noisy, SIM_PLATFORM) - e_noisy) / (s_node_total(clean, SIM_PLATFORM) - e_clean)
                       - 1;
        assert_true(fabs(error) <= 3 * noise + 1e-9);
        lo = error < lo ? error : lo;
        hi = error > hi ? error : hi;
    }
    assert_true(hi - lo > noise); /* it does vary */
    sim_destroy(&noisy);
    sim_destroy(&clean);
}

/* Packages and containers split the node's energy without losing any. */
static void test_splits_add_up(void **state)
{
    (void) state;
    sim_t *sim = s_new(0.02, 9);
    sim_advance(sim, 123.4);
    for (int comp = 0; comp < SIM_COMPONENTS; comp++) {
        for (int m = 0; m < SIM_MODES; m++) {
            double containers = 0, packages = 0;
            for (size_t i = 0; i < sim->count; i++)
                containers += sim->containers[i].energy.energy[comp][m];
            assert_true(s_rel(containers, sim->node.energy[comp][m]) < 1e-9);
            if (comp == SIM_OTHER || comp == SIM_PLATFORM)
                continue;
            for (int p = 0; p < SIM_PACKAGES; p++)
                packages += sim->package[p].energy[comp][m];
            assert_true(s_rel(packages, sim->node.energy[comp][m]) < 1e-9);
        }
    }
    /* derived components */
    assert_true(s_rel(s_node_total(sim, SIM_PACKAGE), s_node_total(sim, SIM_CORE) + s_node_total(sim, SIM_UNCORE))
                < 1e-9);
    assert_true(s_rel(s_node_total(sim, SIM_PLATFORM),
                      s_node_total(sim, SIM_PACKAGE) + s_node_total(sim, SIM_DRAM) + s_node_total(sim, SIM_OTHER))
                < 1e-9);
    sim_destroy(&sim);
}

/* A 0.3 page shows the last complete period: [103, 106] when looked at during [106, 109). */
static void test_a_03_page_shows_the_last_complete_period(void **state)
{
    (void) state;
    sim_t *sim = s_new(0.02, 4);
    sim_advance(sim, 103.0);
    double core3 = s_node_total(sim, SIM_CORE);
    double cycles3 = sim->containers[0].counter[SIM_CPU_CYCLES];
    sim_advance(sim, 106.0);
    double core6 = s_node_total(sim, SIM_CORE);
    double cycles6 = sim->containers[0].counter[SIM_CPU_CYCLES];
    sim_advance(sim, 108.5);
    const double *last = sim->node.last[SIM_CORE];
    assert_true(s_rel(last[0] + last[1], core6 - core3) < 1e-9);
    assert_true(s_rel(sim->containers[0].last[SIM_CPU_CYCLES], cycles6 - cycles3) < 1e-9);
    sim_destroy(&sim);
}

/* An exporter restart zeroes what Kepler keeps, not the hardware's RAPL counters. */
static void test_a_restart_zeroes_keplers_counters_but_not_rapl_or_gauges(void **state)
{
    (void) state;
    sim_t *sim = s_new(0.02, 3);
    sim_advance(sim, 110.0);
    double rapl = sim->rapl[0][SIM_PACKAGE];
    double memory = sim->containers[1].counter[SIM_RESIDENT_MEMORY];
    sim_restart(sim);
    assert_int_equal(sim->restarts, 1);
    assert_true(s_node_total(sim, SIM_PLATFORM) == 0);
    assert_true(sim->containers[1].counter[SIM_CPU_CYCLES] == 0);
    assert_true(sim->containers[1].energy.energy[SIM_DRAM][SIM_IDLE] == 0);
    assert_true(sim->containers[1].counter[SIM_RESIDENT_MEMORY] == memory); /* a gauge */
    assert_true(sim->rapl[0][SIM_PACKAGE] == rapl);
    sim_advance(sim, 111.0);
    assert_true(s_node_total(sim, SIM_PLATFORM) > 0);
    assert_true(sim->rapl[0][SIM_PACKAGE] > rapl);
    sim_destroy(&sim);
}

/* Cycles, instructions and cpu time must not move in lockstep, or no regression can tell
   their weights apart. */
static void test_usage_is_not_collinear(void **state)
{
    (void) state;
    sim_t *sim = s_new(0, 20);
    double prev[SIM_FEATURES], now[SIM_FEATURES];
    double ipc_lo = 1e9, ipc_hi = 0, clock_lo = 1e30, clock_hi = 0, cpu_lo = 1e9, cpu_hi = 0;
    s_feature_sums(sim, prev);
    for (int k = 1; k <= 120; k++) {
        sim_advance(sim, 100.0 + k);
        s_feature_sums(sim, now);
        double cycles = now[SIM_CPU_CYCLES] - prev[SIM_CPU_CYCLES];
        double ipc = (now[SIM_CPU_INSTRUCTIONS] - prev[SIM_CPU_INSTRUCTIONS]) / cycles;
        double cpu = now[SIM_CPU_TIME] - prev[SIM_CPU_TIME];
        double clock = cycles / cpu;
        ipc_lo = fmin(ipc_lo, ipc), ipc_hi = fmax(ipc_hi, ipc);
        clock_lo = fmin(clock_lo, clock), clock_hi = fmax(clock_hi, clock);
        cpu_lo = fmin(cpu_lo, cpu), cpu_hi = fmax(cpu_hi, cpu);
        memcpy(prev, now, sizeof prev);
    }
    assert_true(ipc_hi / ipc_lo > 1.1);
    assert_true(clock_hi / clock_lo > 1.2);
    assert_true(cpu_hi / cpu_lo > 1.2);
    sim_destroy(&sim);
}

/* With churn, containers end and new ones (new ids, counters from 0) take their places. */
static void test_churn_replaces_containers_with_new_ids_and_keeps_system_last(void **state)
{
    (void) state;
    sim_options_t options = {10, 5, 0.02, SIM_RAPL_MAX, 4.0, "node-1", "Zen 4", SIM_TRUTH_LINEAR, 0};
    sim_t *sim = sim_new(&options, 0);
    char first[11][65];
    for (size_t i = 0; i < 11; i++)
        strcpy(first[i], sim->containers[i].id);
    sim_advance(sim, 20.0);
    assert_true(sim->replaced >= 20 && sim->replaced <= 80); /* ~50 expected */
    assert_int_equal(sim->count, 11);
    assert_true(sim->containers[10].system); /* the node's own processes stay, sorted last */
    assert_string_equal(sim->containers[10].id, "system_processes");
    assert_string_equal(first[10], "system_processes");
    size_t kept = 0;
    for (size_t i = 0; i < 10; i++) {
        for (size_t j = 0; j < 10; j++)
            kept += strcmp(sim->containers[i].id, first[j]) == 0;
        if (i)
            assert_true(strcmp(sim->containers[i - 1].id, sim->containers[i].id) < 0);
        /* nobody has run for longer than the simulation */
        assert_true(sim->containers[i].counter[SIM_CPU_TIME] <= 20.0 * 3.0);
    }
    assert_true(kept < 10);
    sim_destroy(&sim);
}

static void test_every_format_renders_a_whole_page(void **state)
{
    (void) state;
    const sim_format_t formats[] = {SIM_FORMAT_03, SIM_FORMAT_07, SIM_FORMAT_09, SIM_FORMAT_010};
    sim_t *sim = s_new(0.02, 1);
    sim_advance(sim, 104.0);
    for (size_t i = 0; i < 4; i++) {
        sim_format_t format = formats[i];
        char *buf = NULL;
        size_t len = 0;
        assert_int_equal(sim_render(sim, format, &buf, &len), 0);
        assert_true(len > 500 && buf[len - 1] == '\n' && strlen(buf) == len);
        assert_true(strncmp(buf, "# HELP ", 7) == 0);
        free(buf);
    }
    sim_destroy(&sim);
}

static void test_the_truth_json_names_features_and_components(void **state)
{
    (void) state;
    sim_t *sim = s_new(0.02, 2);
    char *json = sim_truth_json(sim);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"cpu_instructions\""));
    assert_non_null(strstr(json, "\"platform\""));
    free(json);
    sim_destroy(&sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_does_not_depend_on_scrape_times),
        cmocka_unit_test(test_truth_holds_over_any_interval),
        cmocka_unit_test(test_a_truth_change_holds_from_the_next_step_and_1_restores_it),
        cmocka_unit_test(test_log_truth_holds_within_steps),
        cmocka_unit_test(test_noise_is_bounded_and_present),
        cmocka_unit_test(test_splits_add_up),
        cmocka_unit_test(test_a_03_page_shows_the_last_complete_period),
        cmocka_unit_test(test_a_restart_zeroes_keplers_counters_but_not_rapl_or_gauges),
        cmocka_unit_test(test_usage_is_not_collinear),
        cmocka_unit_test(test_churn_replaces_containers_with_new_ids_and_keeps_system_last),
        cmocka_unit_test(test_every_format_renders_a_whole_page),
        cmocka_unit_test(test_the_truth_json_names_features_and_components),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
