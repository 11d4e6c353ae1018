/*  Cloud Carbon Footprint's coefficients, the numbers behind meter_prior.

    Source: github.com/cloud-carbon-footprint/ccf-coefficients, commit
    b0032d928c787cf76cecd7d1d611c5b46f366e29 (2026-04-24).

    Watts: output/coefficients-aws-use.csv lines 2-21 (the line of each row is beside it). Method
    (ccfcoef/specpower.py lines 35-39): for each SPECpower_ssj2008 result of a micro-architecture,
    min = mean watts at active idle / total hardware threads, max = mean watts at 100 % load / total
    hardware threads; the row is the mean over its results. One hardware thread = one vCPU. The
    numbers are copied exactly as published, at full precision, with no rounding.

    Left out:
    - "EPYC 5th Gen" (line 9, 3.68 / 8.96): a bug. data/amd-epyc-gen5.csv has blank lines, and a
      blank line matched almost every SPECpower result, so the row is close to the mean of all servers.
    - Graviton2, Graviton3, Graviton3E, Graviton4 (lines 12-15): not measured, CCF assumes the
      EPYC 2nd Gen numbers; and an Arm /proc/cpuinfo has no "model name" to match anyway.

    Names: the model numbers of each micro-architecture from data/<family>.csv, plus 6 CPU Name ->
    Microarchitecture pairs from data/gcp-instances-latest-2026.csv. Kept: Xeon and EPYC only.
    Dropped: Core, Pentium, Celeron and Core M numbers, chipsets (CM246, HM370, QM370, C232, ...),
    junk ("EPYC 7601, Dell SKU [338-BNCG]"), bare numbers shorter than 4 characters, duplicates, a
    bare number whose "Gold/Platinum/... <number>" form is listed (Linux writes the tier), and the
    names of left-out rows. No fragment belongs to two micro-architectures. Spelled as Linux spells
    them: Sandy Bridge "E3-1230" is written "E31230", Ivy Bridge "E3-1230 v2" is "E3-1230 V2".

    Matching: remove "(R)" and "(TM)" from the model name; of the fragments found in it with no
    letter or digit just before or after, the longest wins ("E5-2680 v2", Ivy Bridge, beats
    "E5-2680", Sandy Bridge). */
#include "meter_prior.h"

/* clang-format off */
const meter_prior_arch_t meter_prior_archs[] = {
    {"Broadwell", "Intel", 0.7128342245989305, 3.685327540106952},             /*  0: coefficients-aws-use.csv:2 */
    {"Cascade Lake", "Intel", 0.6902978319127387, 4.063193520161689},          /*  1: coefficients-aws-use.csv:3 */
    {"Coffee Lake", "Intel", 1.138425925925926, 5.421759259259259},            /*  2: coefficients-aws-use.csv:4 */
    {"EPYC 1st Gen", "AMD", 0.8467881944444444, 2.6041666666666665},           /*  3: coefficients-aws-use.csv:5 */
    {"EPYC 2nd Gen", "AMD", 0.4742621527777777, 1.6929615162037035},           /*  4: coefficients-aws-use.csv:6 */
    {"EPYC 3rd Gen", "AMD", 0.45562453497023814, 1.957333519345238},           /*  5: coefficients-aws-use.csv:7 */
    {"EPYC 4th Gen", "AMD", 0.7391482469512195, 2.282155106707317},            /*  6: coefficients-aws-use.csv:8 */
    {"Emerald Rapids", "Intel", 0.8140104166666666, 4.48203125},               /*  7: coefficients-aws-use.csv:10 */
    {"Granite Rapids", "Intel", 0.5815883902616279, 2.5274707237711422},       /*  8: coefficients-aws-use.csv:11 */
    {"Haswell", "Intel", 1.8573529411764707, 5.595383986928105},               /*  9: coefficients-aws-use.csv:16 */
    {"Ice Lake", "Intel", 0.766796875, 3.7582031249999996},                    /* 10: coefficients-aws-use.csv:17 */
    {"Ivy Bridge", "Intel", 1.7074305555555556, 5.5569444444444445},           /* 11: coefficients-aws-use.csv:18 */
    {"Sandy Bridge", "Intel", 2.212243200231481, 8.630870594765684},           /* 12: coefficients-aws-use.csv:19 */
    {"Sapphire Rapids", "Intel", 1.0362861003136936, 4.160476336606656},       /* 13: coefficients-aws-use.csv:20 */
    {"Skylake", "Intel", 0.6129888539040325, 4.104170352960531},               /* 14: coefficients-aws-use.csv:21 */
};
const size_t meter_prior_arch_count = sizeof meter_prior_archs / sizeof meter_prior_archs[0];

/* Model-name fragments, as /proc/cpuinfo's "model name" holds them (after "(R)" and "(TM)" are removed).
   The number is the index into meter_prior_archs. */
const meter_prior_name_t meter_prior_names[] = {
    /* 0: Broadwell, from data/intel-broadwell.csv */
    {"D-1513N", 0}, {"D-1518", 0}, {"D-1520", 0}, {"D-1521", 0}, {"D-1523N", 0}, {"D-1527", 0}, {"D-1528", 0},
    {"D-1529", 0}, {"D-1531", 0}, {"D-1533N", 0}, {"D-1537", 0}, {"D-1539", 0}, {"D-1540", 0}, {"D-1541", 0},
    {"D-1543N", 0}, {"D-1548", 0}, {"D-1553N", 0}, {"D-1557", 0}, {"D-1559", 0}, {"D-1567", 0}, {"D-1571", 0},
    {"D-1577", 0}, {"E3-1265L v4", 0}, {"E3-1285 v4", 0}, {"E3-1285L v4", 0}, {"E5-1620 v4", 0}, {"E5-1630 v4", 0},
    {"E5-1650 v4", 0}, {"E5-1660 v4", 0}, {"E5-1680 v4", 0}, {"E5-2603 v4", 0}, {"E5-2609 v4", 0}, {"E5-2620 v4", 0},
    {"E5-2623 v4", 0}, {"E5-2630 v4", 0}, {"E5-2630L v4", 0}, {"E5-2637 v4", 0}, {"E5-2640 v4", 0}, {"E5-2643 v4", 0},
    {"E5-2650 v4", 0}, {"E5-2650L v4", 0}, {"E5-2660 v4", 0}, {"E5-2667 v4", 0}, {"E5-2680 v4", 0}, {"E5-2683 v4", 0},
    {"E5-2686 v4", 0}, {"E5-2687W v4", 0}, {"E5-2690 v4", 0}, {"E5-2695 v4", 0}, {"E5-2697 v4", 0}, {"E5-2697A v4", 0},
    {"E5-2698 v4", 0}, {"E5-2699 v4", 0}, {"E5-2699A v4", 0}, {"E5-4610 v4", 0}, {"E5-4620 v4", 0}, {"E5-4627 v4", 0},
    {"E5-4640 v4", 0}, {"E5-4650 v4", 0}, {"E5-4655 v4", 0}, {"E5-4660 v4", 0}, {"E5-4667 v4", 0}, {"E5-4669 v4", 0},
    {"E7-4809 v4", 0}, {"E7-4820 v4", 0}, {"E7-4830 v4", 0}, {"E7-4850 v4", 0}, {"E7-8860 v4", 0}, {"E7-8867 v4", 0},
    {"E7-8870 v4", 0}, {"E7-8880 v4", 0}, {"E7-8890 v4", 0}, {"E7-8891 v4", 0}, {"E7-8893 v4", 0}, {"E7-8894 v4", 0},
    {"D-1524N", 0}, {"D-1581", 0}, {"D-1587", 0},
    /* 1: Cascade Lake, from data/intel-cascadelake.csv */
    {"Gold 6244", 1}, {"Gold 6212U", 1}, {"Gold 6240", 1}, {"Gold 5218", 1}, {"Platinum 8253", 1}, {"Gold 6230", 1},
    {"Gold 5222", 1}, {"Gold 6238T", 1}, {"Gold 6248", 1}, {"Platinum 8256", 1}, {"Gold 6252", 1}, {"Platinum 8260", 1},
    {"Gold 6242", 1}, {"Platinum 8276", 1}, {"Gold 6240Y", 1}, {"Platinum 8276L", 1}, {"Silver 4209T", 1},
    {"Platinum 8280L", 1}, {"Gold 5217", 1}, {"Silver 4210", 1}, {"Platinum 8260L", 1}, {"Gold 5218N", 1},
    {"Gold 6230N", 1}, {"Silver 4214", 1}, {"Gold 6226", 1}, {"Gold 6254", 1}, {"Silver 4214Y", 1}, {"Gold 5220", 1},
    {"Platinum 8280", 1}, {"Gold 6238L", 1}, {"Platinum 8260Y", 1}, {"Gold 5218B", 1}, {"Silver 4215", 1},
    {"Gold 6240L", 1}, {"Gold 6238", 1}, {"Platinum 8268", 1}, {"Silver 4208", 1}, {"Gold 5220S", 1},
    {"Platinum 8270", 1}, {"Gold 5215", 1}, {"Gold 6222V", 1}, {"Gold 6252N", 1}, {"Gold 6230T", 1}, {"Gold 6246", 1},
    {"Gold 5215L", 1}, {"Bronze 3204", 1}, {"Gold 5218T", 1}, {"Gold 5220T", 1}, {"Silver 4216", 1}, {"Gold 6234", 1},
    {"Gold 6209U", 1}, {"Gold 6262V", 1}, {"Platinum 9242", 1}, {"Platinum 9282", 1}, {"Platinum 9221", 1},
    {"Platinum 9222", 1}, {"Silver 4210R", 1}, {"Silver 4214R", 1}, {"Bronze 3206R", 1}, {"Gold 6246R", 1},
    {"Gold 6240R", 1}, {"Gold 5220R", 1}, {"Silver 4210T", 1}, {"Gold 6238R", 1}, {"Gold 6230R", 1}, {"Gold 6226R", 1},
    {"Gold 6250", 1}, {"Gold 6208U", 1}, {"Gold 6256", 1}, {"Silver 4215R", 1}, {"Gold 5218R", 1}, {"Gold 6258R", 1},
    {"Gold 6248R", 1}, {"Gold 6242R", 1}, {"Gold 6250L", 1}, {"8275CL", 1}, {"8259CL", 1}, {"8252C", 1}, {"3235", 1},
    {"W-2275", 1}, {"W-2295", 1}, {"W-2265", 1}, {"W-2255", 1}, {"W-2223", 1}, {"W-2235", 1}, {"W-2245", 1},
    {"W-2225", 1}, {"W-3245", 1}, {"W-3275", 1}, {"W-3245M", 1}, {"W-3265M", 1}, {"W-3235", 1}, {"W-3225", 1},
    {"W-3265", 1}, {"W-3223", 1}, {"W-3275M", 1}, {"Gold 6210U", 1}, {"8259L", 1},
    /* 1: Cascade Lake, from data/gcp-instances-latest-2026.csv */
    {"Gold 6253CL", 1}, {"Platinum 8273CL", 1},
    /* 2: Coffee Lake, from data/intel-coffeelake.csv */
    {"E-2124", 2}, {"E-2124G", 2}, {"E-2126G", 2}, {"E-2134", 2}, {"E-2136", 2}, {"E-2144G", 2}, {"E-2146G", 2},
    {"E-2174G", 2}, {"E-2176G", 2}, {"E-2176M", 2}, {"E-2186G", 2}, {"E-2186M", 2}, {"E-2224", 2}, {"E-2224G", 2},
    {"E-2226G", 2}, {"E-2234", 2}, {"E-2236", 2}, {"E-2244G", 2}, {"E-2246G", 2}, {"E-2274G", 2}, {"E-2276G", 2},
    {"E-2276M", 2}, {"E-2278G", 2}, {"E-2286G", 2}, {"E-2286M", 2}, {"E-2288G", 2},
    /* 3: EPYC 1st Gen, from data/amd-epyc-gen1.csv */
    {"EPYC 7351", 3}, {"EPYC 7501", 3}, {"EPYC 7551P", 3}, {"EPYC 7601", 3}, {"EPYC 7571", 3}, {"EPYC 7551", 3},
    {"EPYC 7451", 3}, {"EPYC 7401P", 3}, {"EPYC 7401", 3}, {"EPYC 7371", 3}, {"EPYC 7351P", 3}, {"EPYC 7301", 3},
    {"EPYC 7281", 3}, {"EPYC 7261", 3}, {"EPYC 7251", 3}, {"EPYC 755P", 3}, {"EPYC 740P", 3}, {"EPYC 735P", 3},
    {"EPYC 3451", 3}, {"EPYC 3351", 3}, {"EPYC 3255", 3}, {"EPYC 3251", 3}, {"EPYC 3201", 3}, {"EPYC 3151", 3},
    {"EPYC 3101", 3},
    /* 4: EPYC 2nd Gen, from data/amd-epyc-gen2.csv */
    {"EPYC 7702", 4}, {"EPYC 7702P", 4}, {"EPYC 7742", 4}, {"EPYC 7R32", 4}, {"EPYC 7F72", 4}, {"EPYC 7F52", 4},
    {"EPYC 7F32", 4}, {"EPYC 7H12", 4}, {"EPYC 7662", 4}, {"EPYC 7642", 4}, {"EPYC 7552", 4}, {"EPYC 7542", 4},
    {"EPYC 7532", 4}, {"EPYC 7502", 4}, {"EPYC 7502P", 4}, {"EPYC 7452", 4}, {"EPYC 7402", 4}, {"EPYC 7402P", 4},
    {"EPYC 7352", 4}, {"EPYC 7302", 4}, {"EPYC 7302P", 4}, {"EPYC 7282", 4}, {"EPYC 7272", 4}, {"EPYC 7262", 4},
    {"EPYC 7252", 4}, {"EPYC 7232P", 4}, {"EPYC 7B12", 4},
    /* 5: EPYC 3rd Gen, from data/amd-epyc-gen3.csv */
    {"EPYC 7763", 5}, {"EPYC 7713P", 5}, {"EPYC 7713", 5}, {"EPYC 7663", 5}, {"EPYC 7643", 5}, {"EPYC 75F3", 5},
    {"EPYC 7543P", 5}, {"EPYC 7543", 5}, {"EPYC 7513", 5}, {"EPYC 7453", 5}, {"EPYC 74F3", 5}, {"EPYC 7443P", 5},
    {"EPYC 7443", 5}, {"EPYC 7413", 5}, {"EPYC 73F3", 5}, {"EPYC 7343", 5}, {"EPYC 7313P", 5}, {"EPYC 7313", 5},
    {"EPYC 72F3", 5}, {"EPYC 7773X", 5}, {"EPYC 7663P", 5}, {"EPYC 7643P", 5}, {"EPYC 7573X", 5}, {"EPYC 7473X", 5},
    {"EPYC 7373X", 5}, {"EPYC 7203", 5}, {"EPYC 7203P", 5}, {"EPYC 7R13", 5}, {"EPYC 7B13", 5},
    /* 6: EPYC 4th Gen, from data/amd-epyc-gen4.csv */
    {"EPYC 8534P", 6}, {"EPYC 8534PN", 6}, {"EPYC 8434P", 6}, {"EPYC 8434PN", 6}, {"EPYC 8324P", 6}, {"EPYC 8324PN", 6},
    {"EPYC 8224P", 6}, {"EPYC 8224PN", 6}, {"EPYC 8124P", 6}, {"EPYC 8124PN", 6}, {"EPYC 8024P", 6}, {"EPYC 8024PN", 6},
    {"EPYC 9654", 6}, {"EPYC 9654P", 6}, {"EPYC 9554", 6}, {"EPYC 9554P", 6}, {"EPYC 9454", 6}, {"EPYC 9454P", 6},
    {"EPYC 9354", 6}, {"EPYC 9354P", 6}, {"EPYC 9254", 6}, {"EPYC 9124", 6}, {"EPYC 9R14", 6}, {"EPYC 9B14", 6},
    {"EPYC 9J14", 6}, {"EPYC 9V74", 6}, {"EPYC 9D25", 6},
    /* 7: Emerald Rapids, from data/intel-emeraldrapids.csv */
    {"Gold 5512U", 7}, {"Gold 5515+", 7}, {"Gold 5520+", 7}, {"Gold 6526Y", 7}, {"Gold 6530", 7}, {"Gold 6534", 7},
    {"Gold 6538N", 7}, {"Gold 6538Y+", 7}, {"Gold 6542Y", 7}, {"Gold 6544Y", 7}, {"Gold 6548N", 7}, {"Gold 6548Y+", 7},
    {"Gold 6554S", 7}, {"Gold 6558Q", 7}, {"Platinum 8558", 7}, {"Platinum 8558P", 7}, {"Platinum 8558U", 7},
    {"Platinum 8562Y+", 7}, {"Platinum 8568Y+", 7}, {"Platinum 8570", 7}, {"Platinum 8571N", 7}, {"Platinum 8580", 7},
    {"Platinum 8581V", 7}, {"Platinum 8592+", 7}, {"Platinum 8592V", 7}, {"Platinum 8593Q", 7}, {"Silver 4514Y", 7},
    {"Silver 4516Y+", 7},
    /* 7: Emerald Rapids, from data/gcp-instances-latest-2026.csv */
    {"Platinum 8581C", 7},
    /* 8: Granite Rapids, from data/intel-graniterapids.csv */
    {"658X", 8}, {"674X", 8}, {"676X", 8}, {"678X", 8}, {"696X", 8}, {"698X", 8}, {"6503P-B", 8}, {"6505P", 8},
    {"6507P", 8}, {"6511P", 8}, {"6513P-B", 8}, {"6515P", 8}, {"6516P-B", 8}, {"6517P", 8}, {"6518P-B", 8},
    {"6520P", 8}, {"6521P", 8}, {"6523P-B", 8}, {"6527P", 8}, {"6530P", 8}, {"6532P-B", 8}, {"6533P-B", 8},
    {"6543P-B", 8}, {"6544P-B", 8}, {"6546P-B", 8}, {"6548P-B", 8}, {"6553P-B", 8}, {"6556P-B", 8}, {"6563P-B", 8},
    {"6706P-B", 8}, {"6714P", 8}, {"6716P-B", 8}, {"6718P-B", 8}, {"6724P", 8}, {"6725P", 8}, {"6726P-B", 8},
    {"6728P", 8}, {"6730P", 8}, {"6731P", 8}, {"6732P", 8}, {"6736P", 8}, {"6737P", 8}, {"6738P", 8}, {"6740P", 8},
    {"6741P", 8}, {"6745P", 8}, {"6747P", 8}, {"6748P", 8}, {"6756P-B", 8}, {"6760P", 8}, {"6761P", 8}, {"6762P", 8},
    {"6766P-B", 8}, {"6767P", 8}, {"6768P", 8}, {"6768P-B", 8}, {"6774P", 8}, {"6776P", 8}, {"6776P-B", 8},
    {"6781P", 8}, {"6787P", 8}, {"6788P", 8}, {"6944P", 8}, {"6952P", 8}, {"6960P", 8}, {"6962P", 8}, {"6966P-C", 8},
    {"6972P", 8}, {"6978P", 8}, {"6979P", 8}, {"6980P", 8},
    /* 9: Haswell, from data/intel-haswell.csv */
    {"E7-8860 v3", 9}, {"E3-1230 v3", 9}, {"E3-1240 v3", 9}, {"E3-1270 v3", 9}, {"E3-1280 v3", 9}, {"E3-1225 v3", 9},
    {"E3-1220L v3", 9}, {"E3-1245 v3", 9}, {"E3-1265L v3", 9}, {"E3-1275 v3", 9}, {"E3-1285 v3", 9}, {"E3-1285L v3", 9},
    {"E3-1275L v3", 9}, {"E3-1241 v3", 9}, {"E3-1231 v3", 9}, {"E3-1240L v3", 9}, {"E3-1286 v3", 9}, {"E3-1286L v3", 9},
    {"E3-1276 v3", 9}, {"E3-1281 v3", 9}, {"E3-1246 v3", 9}, {"E3-1271 v3", 9}, {"E3-1226 v3", 9}, {"E5-2666 v3", 9},
    {"E5-2676 v3", 9}, {"E7-8867 v3", 9}, {"E7-8870 v3", 9}, {"E7-8880 v3", 9}, {"E7-8880L v3", 9}, {"E7-4809 v3", 9},
    {"E7-8890 v3", 9}, {"E7-4820 v3", 9}, {"E7-8891 v3", 9}, {"E7-4830 v3", 9}, {"E7-4850 v3", 9}, {"E7-8893 v3", 9},
    {"E5-2695 v3", 9}, {"E5-2697 v3", 9}, {"E5-2698 v3", 9}, {"E5-2699 v3", 9}, {"E5-2683 v3", 9}, {"E5-2690 v3", 9},
    {"E5-2650 v3", 9}, {"E5-2660 v3", 9}, {"E5-2609 v3", 9}, {"E5-2680 v3", 9}, {"E5-2670 v3", 9}, {"E5-1630 v3", 9},
    {"E5-1650 v3", 9}, {"E5-2687W v3", 9}, {"E5-2643 v3", 9}, {"E5-1660 v3", 9}, {"E5-1680 v3", 9}, {"E5-2650L v3", 9},
    {"E5-2620 v3", 9}, {"E5-2623 v3", 9}, {"E5-1620 v3", 9}, {"E5-2630 v3", 9}, {"E5-2630L v3", 9}, {"E5-2637 v3", 9},
    {"E5-2640 v3", 9}, {"E5-2603 v3", 9}, {"E5-2667 v3", 9}, {"E5-4640 v3", 9}, {"E5-4650 v3", 9}, {"E5-4655 v3", 9},
    {"E5-4660 v3", 9}, {"E5-4667 v3", 9}, {"E5-4669 v3", 9}, {"E5-4610 v3", 9}, {"E5-4620 v3", 9}, {"E5-4627 v3", 9},
    {"E3-1220 v3", 9}, {"E3-1230L v3", 9},
    /* 10: Ice Lake, from data/intel-icelake.csv */
    {"Gold 5315Y", 10}, {"Gold 6338", 10}, {"Gold 6342", 10}, {"Gold 6346", 10}, {"Gold 6348", 10},
    {"Platinum 8358", 10}, {"Platinum 8370C", 10}, {"8375C", 10}, {"Platinum 8380", 10}, {"Silver 4314", 10},
    {"W-3375", 10},
    /* 10: Ice Lake, from data/gcp-instances-latest-2026.csv */
    {"Platinum 8373C", 10},
    /* 11: Ivy Bridge, from data/intel-ivybridge.csv */
    {"E3-1220 V2", 11}, {"E3-1220L V2", 11}, {"E3-1225 V2", 11}, {"E3-1230 V2", 11}, {"E3-1240 V2", 11},
    {"E3-1245 V2", 11}, {"E3-1265L V2", 11}, {"E3-1270 V2", 11}, {"E3-1275 V2", 11}, {"E3-1280 V2", 11},
    {"E3-1290 V2", 11}, {"E5-1620 v2", 11}, {"E5-1650 v2", 11}, {"E5-1660 v2", 11}, {"E5-2403 v2", 11},
    {"E5-2407 v2", 11}, {"E5-2420 v2", 11}, {"E5-2430 v2", 11}, {"E5-2430L v2", 11}, {"E5-2440 v2", 11},
    {"E5-2450 v2", 11}, {"E5-2450L v2", 11}, {"E5-2470 v2", 11}, {"E5-2603 v2", 11}, {"E5-2609 v2", 11},
    {"E5-2620 v2", 11}, {"E5-2630 v2", 11}, {"E5-2630L v2", 11}, {"E5-2637 v2", 11}, {"E5-2640 v2", 11},
    {"E5-2643 v2", 11}, {"E5-2650 v2", 11}, {"E5-2650L v2", 11}, {"E5-2651 v2", 11}, {"E5-2660 v2", 11},
    {"E5-2667 v2", 11}, {"E5-2670 v2", 11}, {"E5-2680 v2", 11}, {"E5-2687W v2", 11}, {"E5-2690 v2", 11},
    {"E5-2695 v2", 11}, {"E5-2697 v2", 11}, {"E5-4603 v2", 11}, {"E5-4607 v2", 11}, {"E5-4610 v2", 11},
    {"E5-4620 v2", 11}, {"E5-4627 v2", 11}, {"E5-4640 v2", 11}, {"E5-4650 v2", 11}, {"E5-4657L v2", 11},
    {"E7-2850 v2", 11}, {"E7-2870 v2", 11}, {"E7-2880 v2", 11}, {"E7-2890 v2", 11}, {"E7-4809 v2", 11},
    {"E7-4820 v2", 11}, {"E7-4830 v2", 11}, {"E7-4850 v2", 11}, {"E7-4860 v2", 11}, {"E7-4870 v2", 11},
    {"E7-4880 v2", 11}, {"E7-4890 v2", 11}, {"E7-8850 v2", 11}, {"E7-8857 v2", 11}, {"E7-8870 v2", 11},
    {"E7-8880 v2", 11}, {"E7-8880L v2", 11}, {"E7-8890 v2", 11}, {"E7-8891 v2", 11}, {"E7-8893 v2", 11},
    /* 12: Sandy Bridge, from data/intel-sandybridge.csv */
    {"E31230", 12}, {"E31235", 12}, {"E31240", 12}, {"E31245", 12}, {"E31260L", 12}, {"E31270", 12}, {"E31275", 12},
    {"E31220", 12}, {"E31280", 12}, {"E31225", 12}, {"E31220L", 12}, {"E31290", 12}, {"E5-2650", 12}, {"E5-2687W", 12},
    {"E5-1660", 12}, {"E5-1650", 12}, {"E5-2640", 12}, {"E5-2680", 12}, {"E5-1620", 12}, {"E5-4610", 12},
    {"E5-2603", 12}, {"E5-4650", 12}, {"E5-2660", 12}, {"E5-4640", 12}, {"E5-2630", 12}, {"E5-2650L", 12},
    {"E5-4607", 12}, {"E5-2620", 12}, {"E5-2630L", 12}, {"E5-2670", 12}, {"E5-2643", 12}, {"E5-4650L", 12},
    {"E5-2690", 12}, {"E5-2609", 12}, {"E5-4620", 12}, {"E5-2665", 12}, {"E5-2667", 12}, {"E5-4617", 12},
    {"E5-2637", 12}, {"E5-4603", 12}, {"E5-2450L", 12}, {"E5-2450", 12}, {"E5-2440", 12}, {"E5-2470", 12},
    {"E5-2430L", 12}, {"E5-2407", 12}, {"E5-2403", 12}, {"E5-2430", 12}, {"E5-2420", 12}, {"E5-1428L", 12},
    /* 13: Sapphire Rapids, from data/intel-sapphirerapids.csv */
    {"6455B", 13}, {"8488C", 13}, {"9460", 13}, {"9462", 13}, {"9468", 13}, {"9470", 13}, {"9480", 13},
    {"Bronze 3408U", 13}, {"Bronze 3508U", 13}, {"Gold 5411N", 13}, {"Gold 5412U", 13}, {"Gold 5415+", 13},
    {"Gold 5416S", 13}, {"Gold 5418N", 13}, {"Gold 5418Y", 13}, {"Gold 5420+", 13}, {"Gold 6414U", 13},
    {"Gold 6416H", 13}, {"Gold 6418H", 13}, {"Gold 6421N", 13}, {"Gold 6426Y", 13}, {"Gold 6428N", 13},
    {"Gold 6430", 13}, {"Gold 6434", 13}, {"Gold 6434H", 13}, {"Gold 6438M", 13}, {"Gold 6438N", 13},
    {"Gold 6438Y+", 13}, {"Gold 6442Y", 13}, {"Gold 6444Y", 13}, {"Gold 6448H", 13}, {"Gold 6448Y", 13},
    {"Gold 6454S", 13}, {"Gold 6458Q", 13}, {"Platinum 8444H", 13}, {"Platinum 8450H", 13}, {"Platinum 8452Y", 13},
    {"Platinum 8454H", 13}, {"Platinum 8458P", 13}, {"Platinum 8460H", 13}, {"Platinum 8460Y+", 13},
    {"Platinum 8461V", 13}, {"Platinum 8462Y+", 13}, {"Platinum 8468", 13}, {"Platinum 8468H", 13},
    {"Platinum 8468V", 13}, {"Platinum 8470", 13}, {"Platinum 8470N", 13}, {"Platinum 8470Q", 13},
    {"Platinum 8471N", 13}, {"Platinum 8480+", 13}, {"Platinum 8490H", 13}, {"Silver 4410T", 13}, {"Silver 4410Y", 13},
    {"Silver 4416+", 13}, {"Silver 4509Y", 13}, {"Silver 4510", 13}, {"Silver 4510T", 13}, {"w3-2423", 13},
    {"w3-2425", 13}, {"w3-2435", 13}, {"w3-2525", 13}, {"w3-2535", 13}, {"w5-2445", 13}, {"w5-2455X", 13},
    {"w5-2465X", 13}, {"w5-2545", 13}, {"w5-2555X", 13}, {"w5-2565X", 13}, {"w5-3425", 13}, {"w5-3435X", 13},
    {"w5-3525", 13}, {"w5-3535X", 13}, {"w7-2475X", 13}, {"w7-2495X", 13}, {"w7-2575X", 13}, {"w7-2595X", 13},
    {"w7-3445", 13}, {"w7-3455", 13}, {"w7-3465X", 13}, {"w7-3545", 13}, {"w7-3555", 13}, {"w7-3565X", 13},
    {"w9-3475X", 13}, {"w9-3495X", 13}, {"w9-3575X", 13}, {"w9-3595X", 13},
    /* 13: Sapphire Rapids, from data/gcp-instances-latest-2026.csv */
    {"Platinum 8481C", 13},
    /* 14: Skylake, from data/intel-skylake.csv */
    {"Gold 5122", 14}, {"Gold 6142", 14}, {"Platinum 8153", 14}, {"Gold 6138", 14}, {"Platinum 8156", 14},
    {"Gold 6148", 14}, {"Gold 5120T", 14}, {"Platinum 8158", 14}, {"Platinum 8176", 14}, {"Gold 6136", 14},
    {"Gold 6150", 14}, {"Platinum 8160", 14}, {"Silver 4116", 14}, {"Gold 6152", 14}, {"Gold 6130", 14},
    {"Gold 6128", 14}, {"Gold 5118", 14}, {"Platinum 8164", 14}, {"Gold 6134", 14}, {"Gold 6126", 14},
    {"Gold 5120", 14}, {"Platinum 8168", 14}, {"Gold 5115", 14}, {"Gold 6154", 14}, {"Gold 6140", 14},
    {"Platinum 8170", 14}, {"Platinum 8180", 14}, {"Silver 4109T", 14}, {"Bronze 3106", 14}, {"Silver 4114", 14},
    {"Gold 6132", 14}, {"Silver 4112", 14}, {"Gold 6138T", 14}, {"Platinum 8160T", 14}, {"Silver 4108", 14},
    {"Gold 6142F", 14}, {"Gold 6130T", 14}, {"Gold 6138F", 14}, {"Bronze 3104", 14}, {"Platinum 8160F", 14},
    {"Silver 4110", 14}, {"Gold 6130F", 14}, {"Gold 6126T", 14}, {"Gold 6126F", 14}, {"Gold 6148F", 14},
    {"Gold 6146", 14}, {"Gold 6144", 14}, {"Platinum 8176F", 14}, {"Silver 4116T", 14}, {"Silver 4114T", 14},
    {"Gold 5119T", 14}, {"Gold 6138P", 14}, {"W-2133", 14}, {"W-2155", 14}, {"W-2123", 14}, {"W-2145", 14},
    {"W-2125", 14}, {"W-2135", 14}, {"W-2195", 14}, {"W-2175", 14}, {"D-2141I", 14}, {"D-2177NT", 14}, {"D-2161I", 14},
    {"D-2143IT", 14}, {"D-2146NT", 14}, {"D-2145NT", 14}, {"D-2123IT", 14}, {"D-2173IT", 14}, {"D-2187NT", 14},
    {"D-2142IT", 14}, {"D-2163IT", 14}, {"D-2183IT", 14}, {"D-2166NT", 14}, {"E3-1240L v5", 14}, {"E3-1235L v5", 14},
    {"E3-1280 v5", 14}, {"E3-1220 v5", 14}, {"E3-1230 v5", 14}, {"E3-1245 v5", 14}, {"E3-1270 v5", 14},
    {"E3-1225 v5", 14}, {"E3-1260L v5", 14}, {"E3-1240 v5", 14}, {"E3-1275 v5", 14}, {"E3-1565L v5", 14},
    {"E3-1585L v5", 14}, {"E3-1585 v5", 14}, {"8124M", 14}, {"8175M", 14}, {"8176M", 14}, {"8151", 14}, {"W-3175X", 14},
    {"E3-1545M", 14}, {"E3-1515M", 14}, {"E3-1575M", 14}, {"E3-1535M", 14}, {"E3-1505M", 14}, {"2170B", 14},
    {"8171M", 14},
    /* 14: Skylake, from data/intel-skylake-server.csv */
    {"5117", 14}, {"5117F", 14}, {"6134M", 14}, {"6140M", 14}, {"6142M", 14}, {"6161", 14}, {"8124", 14}, {"8160M", 14},
    {"8163", 14}, {"8170F", 14}, {"8170M", 14}, {"8175", 14}, {"8180M", 14}, {"D-2191", 14}, {"W-2102", 14},
    {"W-2104", 14}, {"W-2140B", 14}, {"W-2150B", 14}, {"W-2170B", 14}, {"W-2191B", 14},
    /* 14: Skylake, from data/intel-skylake-client.csv */
    {"E3-1268L v5", 14}, {"E3-1505L v5", 14}, {"E3-1505M v5", 14}, {"E3-1515M v5", 14}, {"E3-1535M v5", 14},
    {"E3-1545M v5", 14}, {"E3-1558L v5", 14}, {"E3-1575M v5", 14}, {"E3-1578L v5", 14},
    /* 14: Skylake, from data/gcp-instances-latest-2026.csv */
    {"Platinum 8173M", 14},
};
/* clang-format on */
const size_t meter_prior_name_count = sizeof meter_prior_names / sizeof meter_prior_names[0];
