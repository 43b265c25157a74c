#!/usr/bin/env python3
"""Writes the synthetic /proc and /sys trees in this directory, one per board profile.

Each tree holds what GemmaEdge's board detection and `gemma-edge doctor --sysfs-root DIR` read:
/proc/cpuinfo, /proc/meminfo, /proc/device-tree/{model,compatible}, /sys/devices/system/cpu
(online, cpu*/cpu_capacity, cpufreq policies with cpu*/cpufreq links), /sys/class/thermal,
/sys/class/hwmon and, on the Raspberry Pis, the firmware's get_throttled word. Values follow what
these boards' kernels print; they are test fixtures, not measurements. The trees are checked in;
run `python3 Platforms/boards/trees/generate.py` to rewrite them after editing this file.
"""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))

A72 = "fp asimd evtstrm crc32 cpuid"
A53_RK3399 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"
V82 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
A78AE = V82 + " uscat ilrcpc flagm paca pacg"
N100 = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss "
        "ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology "
        "nonstop_tsc cpuid aperfmperf tsc_known_freq pni pclmulqdq dtes64 monitor ds_cpl vmx est tm2 ssse3 sdbg fma "
        "cx16 xtpr pdcm sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm "
        "3dnowprefetch cpuid_fault epb cat_l2 cdp_l2 ssbd ibrs ibpb stibp ibrs_enhanced tpr_shadow flexpriority ept "
        "vpid ept_ad fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdt_a rdseed adx smap clflushopt clwb "
        "intel_pt sha_ni xsaveopt xsavec xgetbv1 xsaves split_lock_detect avx_vnni dtherm ida arat pln pts hwp "
        "hwp_notify hwp_act_window hwp_epp hwp_pkg_req vnmi umip pku ospke waitpkg gfni vaes vpclmulqdq rdpid "
        "movdiri movdir64b fsrm md_clear serialize arch_lbr ibt flush_l1d arch_capabilities")

BOARDS = {
    "raspberry-pi-4": dict(
        model="Raspberry Pi 4 Model B Rev 1.4", compatible=["raspberrypi,4-model-b", "brcm,bcm2711"],
        cores=[("0xd08", A72, 1024)] * 4, policies=[([0, 1, 2, 3], "ondemand", 1800000, 1500000)],
        extra_cpuinfo="Hardware\t: BCM2835\nRevision\t: d03114\nSerial\t\t: 10000000a1b2c3d4\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n",
        mem_kb=(3884328, 3391204), zones=[("cpu-thermal", 52095)], hwmon=["rpi_volt"],
        throttled=("sys/devices/platform/soc/soc:firmware/get_throttled", "0x0")),
    "raspberry-pi-5": dict(
        model="Raspberry Pi 5 Model B Rev 1.0", compatible=["raspberrypi,5-model-b", "brcm,bcm2712"],
        cores=[("0xd0b", V82, 1024)] * 4, policies=[([0, 1, 2, 3], "ondemand", 2400000, 2400000)],
        extra_cpuinfo="Revision\t: d04170\nSerial\t\t: 9a1b2c3d4e5f6071\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n",
        mem_kb=(8245328, 7412880), zones=[("cpu-thermal", 78350)], hwmon=["rpi_volt", "pwmfan"],
        throttled=("sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled", "0xe0000")),
    "rk3588": dict(
        model="Orange Pi 5", compatible=["rockchip,rk3588s-orangepi-5", "rockchip,rk3588"],
        cores=[("0xd05", V82, 398)] * 4 + [("0xd0b", V82, 1024)] * 2 + [("0xd0b", V82, 983)] * 2,
        policies=[([0, 1, 2, 3], "schedutil", 1800000, 1008000), ([4, 5], "schedutil", 2400000, 2400000),
                  ([6, 7], "schedutil", 2304000, 2304000)],
        extra_cpuinfo="", mem_kb=(7919532, 6981240),
        zones=[("soc-thermal", 45384), ("bigcore0-thermal", 46307), ("bigcore1-thermal", 46230),
               ("littlecore-thermal", 45384), ("center-thermal", 44461), ("gpu-thermal", 44461), ("npu-thermal", 44923)],
        hwmon=[], throttled=None),
    "jetson-orin-nano": dict(
        model="NVIDIA Jetson Orin Nano Developer Kit",
        compatible=["nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234"],
        cores=[("0xd42", A78AE, 1024)] * 6,
        policies=[([0, 1, 2, 3], "schedutil", 1510400, 729600), ([4, 5], "schedutil", 1510400, 729600)],
        extra_cpuinfo="", mem_kb=(7620400, 5528112),
        zones=[("cpu-thermal", 48531), ("gpu-thermal", 47062), ("cv0-thermal", 46843), ("cv1-thermal", 47125),
               ("cv2-thermal", 46812), ("soc0-thermal", 47968), ("soc1-thermal", 46468), ("soc2-thermal", 47406),
               ("tj-thermal", 48531)],
        hwmon=["ina3221"], throttled=None),
    # No profile of its own: a Pine64 RockPro64 (RK3399: 4x Cortex-A53 + 2x Cortex-A72, no dotprod),
    # which must fall back to generic-aarch64 yet still find the two big cores.
    "generic-aarch64": dict(
        model="Pine64 RockPro64 v2.1", compatible=["pine64,rockpro64-v2.1", "pine64,rockpro64", "rockchip,rk3399"],
        cores=[("0xd03", A53_RK3399, 485)] * 4 + [("0xd08", A53_RK3399, 1024)] * 2,
        policies=[([0, 1, 2, 3], "powersave", 1416000, 408000), ([4, 5], "powersave", 1800000, 408000)],
        extra_cpuinfo="", mem_kb=(3978628, 3511040),
        zones=[("cpu-thermal", 41666), ("gpu-thermal", 40555)], hwmon=[], throttled=None),
    "generic-x86_64": dict(
        model=None, compatible=None, cores=[(None, N100, None)] * 4,
        policies=[([0], "powersave", 3400000, 2900000), ([1], "powersave", 3400000, 2900000),
                  ([2], "powersave", 3400000, 2900000), ([3], "powersave", 3400000, 2900000)],
        driver="intel_pstate", extra_cpuinfo="", mem_kb=(16115208, 14201344),
        zones=[("acpitz", 27800), ("x86_pkg_temp", 46000)], hwmon=["coretemp", "nvme"], throttled=None),
}


def write(root, rel, text, mode="w"):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)


def cpu_list(ids):
    return f"{ids[0]}-{ids[-1]}" if len(ids) > 1 else f"{ids[0]}"


def cpuinfo(board):
    blocks = []
    for i, (part, features, _) in enumerate(board["cores"]):
        if part is None:
            blocks.append(
                f"processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 190\n"
                f"model name\t: Intel(R) N100\nstepping\t: 0\ncpu MHz\t\t: 2900.000\ncache size\t: 6144 KB\n"
                f"physical id\t: 0\nsiblings\t: 4\ncore id\t\t: {i}\ncpu cores\t: 4\nfpu\t\t: yes\n"
                f"flags\t\t: {features}\nbogomips\t: 1612.80\nclflush size\t: 64\naddress sizes\t: 39 bits physical, 48 bits virtual\n")
        else:
            blocks.append(
                f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"
                f"CPU architecture: 8\nCPU variant\t: 0x{1 if part == '0xd42' else 0}\nCPU part\t: {part}\n"
                f"CPU revision\t: {1 if part != '0xd08' else 3}\n")
    return "\n".join(blocks) + ("\n" + board["extra_cpuinfo"] if board["extra_cpuinfo"] else "")


def meminfo(total, available):
    free = available * 8 // 10
    cached = available - free
    return (f"MemTotal:       {total:>8} kB\nMemFree:        {free:>8} kB\nMemAvailable:   {available:>8} kB\n"
            f"Buffers:        {20480:>8} kB\nCached:         {cached:>8} kB\nSwapCached:            0 kB\n"
            f"SwapTotal:      {204796:>8} kB\nSwapFree:       {204796:>8} kB\n")


def generate(name, board):
    root = os.path.join(HERE, name)
    shutil.rmtree(root, ignore_errors=True)
    write(root, "proc/cpuinfo", cpuinfo(board))
    write(root, "proc/meminfo", meminfo(*board["mem_kb"]))
    if board["model"]:
        write(root, "proc/device-tree/model", board["model"] + "\0")
        write(root, "proc/device-tree/compatible", "".join(c + "\0" for c in board["compatible"]))
    n = len(board["cores"])
    cpu = "sys/devices/system/cpu"
    write(root, f"{cpu}/online", cpu_list(list(range(n))) + "\n")
    write(root, f"{cpu}/possible", cpu_list(list(range(n))) + "\n")
    for i, (_, _, capacity) in enumerate(board["cores"]):
        if capacity is not None:
            write(root, f"{cpu}/cpu{i}/cpu_capacity", f"{capacity}\n")
    for ids, governor, max_khz, cur_khz in board["policies"]:
        policy = f"{cpu}/cpufreq/policy{ids[0]}"
        write(root, f"{policy}/scaling_governor", governor + "\n")
        write(root, f"{policy}/scaling_driver", board.get("driver", "cpufreq-dt") + "\n")
        write(root, f"{policy}/cpuinfo_max_freq", f"{max_khz}\n")
        write(root, f"{policy}/scaling_cur_freq", f"{cur_khz}\n")
        write(root, f"{policy}/related_cpus", " ".join(str(i) for i in ids) + "\n")
        write(root, f"{policy}/affected_cpus", " ".join(str(i) for i in ids) + "\n")
        for i in ids:
            os.makedirs(os.path.join(root, f"{cpu}/cpu{i}"), exist_ok=True)
            os.symlink(f"../cpufreq/policy{ids[0]}", os.path.join(root, f"{cpu}/cpu{i}/cpufreq"))
    for z, (kind, milli) in enumerate(board["zones"]):
        write(root, f"sys/class/thermal/thermal_zone{z}/type", kind + "\n")
        write(root, f"sys/class/thermal/thermal_zone{z}/temp", f"{milli}\n")
    for h, hname in enumerate(board["hwmon"]):
        write(root, f"sys/class/hwmon/hwmon{h}/name", hname + "\n")
    if board["throttled"]:
        write(root, board["throttled"][0], board["throttled"][1] + "\n")


if __name__ == "__main__":
    for name, board in BOARDS.items():
        generate(name, board)
        print("wrote", os.path.join(HERE, name))
