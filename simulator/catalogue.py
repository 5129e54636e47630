"""The simulated world: consortia, members, sites, compute hubs and deployed models.

Pure data. Units are realistic; feature weights are in target units (or logits)
per standard deviation of the feature.

>>> len(MODELS) >= 12, sorted(CONSORTIA)
(True, ['automotive', 'electronics', 'petrochemical', 'steel'])
"""

from __future__ import annotations

from simulator.specs import (
    Categorical,
    Consortium,
    Energy,
    Hub,
    LabelDelay,
    Latency,
    Model,
    Numeric,
    Target,
)
from warehouse.carbon import HUBS as CARBON_HUBS

H, D = 3600.0, 86400.0

#: What the simulation adds to each national hub of warehouse.carbon.HUBS (the one hub
#: table: slugs, names, provinces, PUE): accelerator, joules factor, network round trip (ms).
HARDWARE: dict[str, tuple[str, float, float]] = {
    "beijing-tianjin-hebei": ("NVIDIA A800", 1.00, 6.0),
    "yangtze-river-delta": ("NVIDIA A800", 1.00, 4.0),
    "guangdong-hk-macao": ("NVIDIA L20", 1.15, 4.0),
    "chengdu-chongqing": ("Huawei Ascend 910B", 0.90, 8.0),
    "inner-mongolia": ("Huawei Ascend 910B", 0.90, 25.0),
    "guizhou": ("Huawei Ascend 310P", 1.30, 22.0),
    "gansu": ("Hygon DCU Z100", 1.40, 30.0),
    "ningxia": ("NVIDIA H20", 0.85, 28.0),
}
assert HARDWARE.keys() == CARBON_HUBS.keys(), "every carbon hub has simulated hardware"
HUBS: dict[str, Hub] = {
    slug: Hub(slug, CARBON_HUBS[slug][0], *HARDWARE[slug]) for slug in CARBON_HUBS
}

CONSORTIA: dict[str, Consortium] = {
    c.name: c
    for c in (
        Consortium(
            "steel",
            "Steel",
            {
                "baowu": ("shanghai-baoshan-hsm-2",),
                "ansteel": ("anshan-bof-3",),
                "shougang": ("caofeidian-reheat-1",),
            },
        ),
        Consortium(
            "automotive",
            "Automotive",
            {
                "saic": ("shanghai-anting-body-1",),
                "byd": ("shenzhen-pingshan-paint-2",),
                "geely": ("ningbo-hangzhou-bay-final-1",),
            },
        ),
        Consortium(
            "petrochemical",
            "Petrochemical",
            {
                "sinopec": ("zhenhai-ethylene-1",),
                "petrochina": ("dushanzi-ethylene-2",),
                "wanhua": ("yantai-mdi-2",),
            },
        ),
        Consortium(
            "electronics",
            "Electronics",
            {
                "foxconn": ("shenzhen-longhua-smt-7",),
                "boe": ("chengdu-b7-array-1",),
                "luxshare": ("kunshan-fatp-3",),
            },
        ),
    )
}

SHIFT = Categorical("shift", {"A": 0.27, "B": 0.27, "C": 0.26, "D": 0.20})

MODELS: tuple[Model, ...] = (
    # --- steel -----------------------------------------------------------------
    Model(
        "strip-surface-defect", "3", "Hot strip surface defect (camera + mill signals)",
        "steel", "baowu", "shanghai-baoshan-hsm-2", "yangtze-river-delta",
        (
            Numeric("strip_temp_c", "°C", "normal", 910.0, 12.0, 1, corr=0.5, lo=820, hi=990),
            Numeric("speed_mps", "m/s", "normal", 11.5, 0.8, 2, corr=0.3, lo=6, hi=16),
            Numeric("thickness_mm", "mm", "lognormal", 3.0, 0.25, 2, lo=1.2, hi=12.7),
            Numeric("roll_force_kn", "kN", "normal", 18000.0, 900.0, 0, corr=-0.4),
            Numeric("descaler_pressure_bar", "bar", "normal", 180.0, 6.0, 1),
            Categorical("steel_grade", {"Q235B": 0.4, "Q345B": 0.3, "SPHC": 0.2, "DC01": 0.1}),
            SHIFT,
        ),
        Target(
            "multiclass", classes=("none", "scratch", "inclusion", "scale", "roll-mark"),
            bias=(2.2, -0.6, -1.0, -0.7, -1.3),
            weights={
                "strip_temp_c": (0.0, 0.0, 0.2, 1.4, 0.0),
                "speed_mps": (0.0, 1.0, 0.0, 0.0, 0.3),
                "descaler_pressure_bar": (0.0, 0.0, 0.0, -1.1, 0.0),
                "roll_force_kn": (0.0, 0.2, 0.0, 0.0, 1.2),
            },
            effects={"steel_grade": {"Q345B": (0.0, 0.0, 0.6, 0.0, 0.0)}},
            unseen_effect=1.0,
        ),
        Latency(38.0, 0.30), Energy(2.4, 55.0, 10.0), LabelDelay(4 * H, 0.7, 20 * 60, 2 * D),
    ),
    Model(
        "bof-endpoint-temp", "7", "Converter (BOF) end-point temperature",
        "steel", "ansteel", "anshan-bof-3", "inner-mongolia",
        (
            Numeric("hot_metal_temp_c", "°C", "normal", 1340.0, 15.0, 1, corr=0.5),
            Numeric("hot_metal_si_pct", "%", "lognormal", 0.45, 0.2, 3, corr=0.3),
            Numeric("scrap_ratio_pct", "%", "normal", 15.0, 3.0, 1, lo=0, hi=35),
            Numeric("oxygen_volume_nm3", "Nm³", "normal", 5200.0, 180.0, 0),
            Numeric("blow_time_s", "s", "normal", 960.0, 45.0, 0),
            Categorical("steel_grade", {"Q235B": 0.35, "Q345B": 0.35, "SPHC": 0.2, "X70": 0.1}),
        ),
        Target(
            "regressor", unit="°C", bias=1650.0, noise=6.0, decimals=1,
            weights={
                "hot_metal_temp_c": 7.0, "hot_metal_si_pct": 5.0, "scrap_ratio_pct": -8.0,
                "oxygen_volume_nm3": 6.0, "blow_time_s": 3.0,
            },
            effects={"steel_grade": {"X70": 8.0, "SPHC": -3.0}},
            unseen_effect=10.0,
        ),
        Latency(12.0, 0.25), Energy(0.35, 30.0, 30.0), LabelDelay(25 * 60, 0.4, 15 * 60, 2 * H),
    ),
    Model(
        "slab-discharge-temp", "2", "Reheating furnace slab discharge temperature",
        "steel", "shougang", "caofeidian-reheat-1", "beijing-tianjin-hebei",
        (
            Numeric("soak_zone_temp_c", "°C", "normal", 1260.0, 10.0, 1, corr=0.6),
            Numeric("heat_zone_temp_c", "°C", "normal", 1210.0, 14.0, 1, corr=0.6),
            Numeric("residence_min", "min", "lognormal", 180.0, 0.12, 1),
            Numeric("fuel_gas_flow_nm3h", "Nm³/h", "normal", 42000.0, 2500.0, 0, corr=0.4),
            Numeric("slab_thickness_mm", "mm", "normal", 230.0, 8.0, 0, lo=200, hi=260),
            Categorical("steel_grade", {"Q235B": 0.45, "Q345B": 0.35, "SPHC": 0.2}),
            SHIFT,
        ),
        Target(
            "regressor", unit="°C", bias=1225.0, noise=5.0, decimals=1,
            weights={
                "soak_zone_temp_c": 8.0, "heat_zone_temp_c": 4.0, "residence_min": 3.0,
                "fuel_gas_flow_nm3h": 2.0, "slab_thickness_mm": -5.0,
            },
            unseen_effect=-8.0,
        ),
        Latency(9.0, 0.3), Energy(0.2, 25.0, 30.0), LabelDelay(15 * 60, 0.3, 5 * 60, H),
    ),
    # --- automotive ------------------------------------------------------------
    Model(
        "weld-defect", "5", "Resistance spot weld defect (body-in-white)",
        "automotive", "saic", "shanghai-anting-body-1", "yangtze-river-delta",
        (
            Numeric("weld_current_ka", "kA", "normal", 9.5, 0.4, 2, corr=0.3),
            Numeric("weld_time_ms", "ms", "normal", 220.0, 10.0, 0),
            Numeric("electrode_force_kn", "kN", "normal", 3.2, 0.15, 2),
            Numeric("electrode_wear_welds", "welds", "uniform", 0.0, 3000.0, 0),
            Numeric("sheet_thickness_mm", "mm", "normal", 1.2, 0.1, 2, lo=0.6, hi=2.5),
            Categorical("coating", {"GI": 0.5, "GA": 0.3, "bare": 0.2}),
            SHIFT,
        ),
        Target(
            "binary", classes=("ok", "defect"), bias=-3.2,
            weights={
                "weld_current_ka": -1.1, "electrode_wear_welds": 0.9,
                "electrode_force_kn": -0.5, "sheet_thickness_mm": 0.4,
            },
            effects={"coating": {"GA": 0.4}, "shift": {"D": 0.3}},
            unseen_effect=1.2,
        ),
        Latency(22.0, 0.35), Energy(0.9, 35.0, 10.0), LabelDelay(2 * H, 0.9, 10 * 60, D),
    ),
    Model(
        "paint-defect", "4", "Top-coat paint defect classification",
        "automotive", "byd", "shenzhen-pingshan-paint-2", "guangdong-hk-macao",
        (
            Numeric("booth_temp_c", "°C", "normal", 23.0, 0.8, 1, corr=0.4),
            Numeric("booth_rh_pct", "%RH", "normal", 65.0, 4.0, 1, corr=0.4, lo=30, hi=95),
            Numeric("film_thickness_um", "µm", "normal", 18.0, 1.5, 1),
            Numeric("bell_speed_krpm", "krpm", "normal", 45.0, 1.5, 1),
            Numeric("shaping_air_nlmin", "NL/min", "normal", 250.0, 15.0, 0),
            Categorical("paint_supplier", {"ppg": 0.4, "basf": 0.35, "nippon": 0.25}),
        ),
        Target(
            "multiclass", classes=("none", "orange-peel", "sag", "crater", "dust"),
            bias=(2.5, -0.8, -1.2, -1.5, -1.0),
            weights={
                "film_thickness_um": (0.0, 0.0, 1.5, 0.0, 0.0),
                "bell_speed_krpm": (0.0, -1.2, 0.0, 0.0, 0.0),
                "booth_rh_pct": (0.0, 0.3, 0.5, 0.9, 0.0),
                "shaping_air_nlmin": (0.0, 0.0, 0.0, 0.0, 0.6),
            },
            effects={"paint_supplier": {"nippon": (0.0, 0.0, 0.0, 0.5, 0.0)}},
            unseen_effect=1.0,
        ),
        Latency(45.0, 0.3), Energy(3.1, 60.0, 10.0), LabelDelay(6 * H, 0.6, H, 3 * D),
    ),
    Model(
        "bolt-torque", "9", "Final-assembly bolt tightening torque",
        "automotive", "geely", "ningbo-hangzhou-bay-final-1", "guizhou",
        (
            Numeric("tool_speed_rpm", "rpm", "normal", 220.0, 12.0, 0),
            Numeric("final_angle_deg", "°", "normal", 45.0, 3.0, 1, corr=0.5),
            Numeric("friction_coef", "", "normal", 0.14, 0.01, 3, lo=0.08, hi=0.22),
            Numeric("ambient_temp_c", "°C", "normal", 24.0, 2.5, 1),
            Categorical("bolt_supplier", {"fastenal": 0.45, "boltun": 0.35, "kamax": 0.2}),
            SHIFT,
        ),
        Target(
            "regressor", unit="N·m", bias=120.0, noise=1.2, decimals=2, lo=0,
            weights={"final_angle_deg": 2.5, "friction_coef": 2.0, "tool_speed_rpm": -0.4},
            effects={"bolt_supplier": {"kamax": 0.8}},
            unseen_effect=-3.0,
        ),
        Latency(6.0, 0.4), Energy(0.05, 15.0, 10.0), LabelDelay(5 * 60, 0.5, 60, H),
    ),
    # --- petrochemical ---------------------------------------------------------
    Model(
        "cracker-cot", "12", "Steam cracker coil outlet temperature",
        "petrochemical", "sinopec", "zhenhai-ethylene-1", "ningxia",
        (
            Numeric("feed_rate_tph", "t/h", "normal", 45.0, 2.0, 2, corr=0.5, lo=20, hi=70),
            Numeric("steam_hc_ratio", "kg/kg", "normal", 0.5, 0.03, 3),
            Numeric("firebox_temp_c", "°C", "normal", 1100.0, 15.0, 1, corr=0.6),
            Numeric("fuel_gas_pressure_kpa", "kPa", "normal", 180.0, 10.0, 1, corr=0.5),
            Numeric("days_since_decoke", "d", "uniform", 0.0, 60.0, 1),
            Categorical("feed_type", {"naphtha": 0.6, "lpg": 0.25, "ethane": 0.15}),
        ),
        Target(
            "regressor", unit="°C", bias=835.0, noise=2.0, decimals=1,
            weights={
                "firebox_temp_c": 6.0, "feed_rate_tph": -4.0, "steam_hc_ratio": -1.5,
                "fuel_gas_pressure_kpa": 2.0, "days_since_decoke": 1.5,
            },
            effects={"feed_type": {"ethane": 12.0, "lpg": 4.0}},
            unseen_effect=8.0,
        ),
        Latency(15.0, 0.3), Energy(0.6, 45.0, 10.0), LabelDelay(10 * 60, 0.4, 2 * 60, H),
    ),
    Model(
        "ethylene-yield", "6", "Cracker ethylene yield",
        "petrochemical", "petrochina", "dushanzi-ethylene-2", "gansu",
        (
            Numeric("cot_c", "°C", "normal", 835.0, 5.0, 1, corr=0.6),
            Numeric("feed_rate_tph", "t/h", "normal", 48.0, 2.5, 2, corr=-0.3),
            Numeric("steam_hc_ratio", "kg/kg", "normal", 0.5, 0.03, 3),
            Numeric("coil_outlet_pressure_kpa", "kPa", "normal", 170.0, 6.0, 1),
            Numeric("naphtha_paraffins_pct", "%", "normal", 66.0, 3.0, 1),
            Categorical("feed_type", {"naphtha": 0.7, "lpg": 0.2, "ethane": 0.1}),
        ),
        Target(
            "regressor", unit="%", bias=30.0, noise=0.4, decimals=2, lo=0, hi=100,
            weights={
                "cot_c": 1.2, "coil_outlet_pressure_kpa": -0.5, "steam_hc_ratio": 0.3,
                "naphtha_paraffins_pct": 0.6, "feed_rate_tph": -0.2,
            },
            effects={"feed_type": {"ethane": 20.0, "lpg": 6.0}},
            unseen_effect=3.0,
        ),
        Latency(18.0, 0.3), Energy(0.5, 40.0, 30.0), LabelDelay(8 * H, 0.5, 2 * H, 2 * D),
    ),
    Model(
        "compressor-fault", "3", "Process gas compressor fault detection",
        "petrochemical", "wanhua", "yantai-mdi-2", "beijing-tianjin-hebei",
        (
            Numeric("vibration_mm_s", "mm/s", "lognormal", 2.2, 0.3, 2, corr=0.6, lo=0),
            Numeric("bearing_temp_c", "°C", "normal", 68.0, 3.0, 1, corr=0.5),
            Numeric("discharge_pressure_mpa", "MPa", "normal", 3.2, 0.08, 3),
            Numeric("suction_temp_c", "°C", "normal", 38.0, 2.0, 1),
            Numeric("lube_oil_pressure_bar", "bar", "normal", 2.5, 0.1, 2),
            SHIFT,
        ),
        Target(
            "binary", classes=("normal", "fault"), bias=-3.6,
            weights={
                "vibration_mm_s": 1.3, "bearing_temp_c": 0.9, "lube_oil_pressure_bar": -0.7,
            },
            unseen_effect=0.5,
        ),
        Latency(8.0, 0.3), Energy(0.12, 20.0, 10.0),
        LabelDelay(2 * D, 0.6, 6 * H, 14 * D, fraction=0.8),
    ),
    # --- electronics -----------------------------------------------------------
    Model(
        "pcb-solder-defect", "8", "SMT solder joint defect (AOI images + reflow profile)",
        "electronics", "foxconn", "shenzhen-longhua-smt-7", "guangdong-hk-macao",
        (
            Numeric("reflow_peak_c", "°C", "normal", 245.0, 2.5, 1, corr=0.5),
            Numeric("time_above_liquidus_s", "s", "normal", 60.0, 5.0, 1, corr=0.5),
            Numeric("paste_volume_pct", "%", "normal", 100.0, 8.0, 1),
            Numeric("conveyor_speed_cm_min", "cm/min", "normal", 80.0, 3.0, 1),
            Numeric("board_warpage_mm", "mm", "lognormal", 0.3, 0.4, 3, lo=0),
            Categorical("paste_supplier", {"alpha": 0.5, "senju": 0.3, "indium": 0.2}),
            SHIFT,
        ),
        Target(
            "multiclass", classes=("ok", "bridge", "insufficient", "tombstone", "void"),
            bias=(3.0, -1.0, -1.2, -1.8, -0.8),
            weights={
                "paste_volume_pct": (0.0, 1.3, -1.4, 0.0, 0.0),
                "reflow_peak_c": (0.0, 0.0, 0.0, 0.5, -0.8),
                "time_above_liquidus_s": (0.0, 0.0, 0.0, 0.0, -0.6),
                "board_warpage_mm": (0.0, 0.0, 0.0, 1.1, 0.0),
            },
            effects={"paste_supplier": {"indium": (0.0, 0.0, 0.0, 0.0, 0.5)}},
            unseen_effect=1.0,
        ),
        Latency(30.0, 0.3), Energy(1.8, 50.0, 10.0), LabelDelay(45 * 60, 0.6, 10 * 60, 12 * H),
    ),
    Model(
        "panel-mura", "2", "LCD array mura (non-uniformity) detection",
        "electronics", "boe", "chengdu-b7-array-1", "chengdu-chongqing",
        (
            Numeric("exposure_dose_mj_cm2", "mJ/cm²", "normal", 40.0, 1.2, 2),
            Numeric("coater_rpm", "rpm", "normal", 1200.0, 25.0, 0),
            Numeric("particles_per_m3", "particles/m³", "lognormal", 350.0, 0.5, 0, lo=0),
            Numeric("glass_temp_c", "°C", "normal", 23.0, 0.3, 2),
            Categorical("photoresist_lot", {"PR-A": 0.4, "PR-B": 0.35, "PR-C": 0.25}),
        ),
        Target(
            "binary", classes=("pass", "mura"), bias=-2.8,
            weights={"particles_per_m3": 1.0, "exposure_dose_mj_cm2": 0.6, "coater_rpm": -0.5},
            effects={"photoresist_lot": {"PR-C": 0.5}},
            unseen_effect=1.5,
        ),
        Latency(60.0, 0.25), Energy(4.5, 70.0, 10.0), LabelDelay(12 * H, 0.5, 2 * H, 3 * D),
    ),
    Model(
        "fatp-lot-yield", "4", "Final assembly and test (FATP) lot yield",
        "electronics", "luxshare", "kunshan-fatp-3", "yangtze-river-delta",
        (
            Numeric("line_speed_uph", "units/h", "normal", 1200.0, 60.0, 0),
            Numeric("operator_tenure_months", "months", "lognormal", 14.0, 0.6, 1, lo=0),
            Numeric("humidity_pct", "%RH", "normal", 45.0, 3.0, 1, lo=20, hi=80),
            Numeric("screw_torque_cpk", "", "normal", 1.6, 0.15, 2, lo=0.5),
            Categorical("component_supplier", {"tdk": 0.4, "murata": 0.35, "samsung-em": 0.25}),
            SHIFT,
        ),
        Target(
            "regressor", unit="%", bias=97.2, noise=0.5, decimals=2, lo=0, hi=100,
            weights={
                "line_speed_uph": -0.5, "operator_tenure_months": 0.4,
                "humidity_pct": -0.2, "screw_torque_cpk": 0.6,
            },
            effects={"shift": {"D": -0.4}, "component_supplier": {"samsung-em": -0.3}},
            unseen_effect=-1.5,
        ),
        Latency(10.0, 0.3), Energy(0.08, 10.0, 60.0), LabelDelay(D, 0.4, 8 * H, 4 * D),
    ),
)  # fmt: skip

MODELS_BY_NAME: dict[str, Model] = {m.name: m for m in MODELS}


def select(consortia: tuple[str, ...] = (), models: tuple[str, ...] = ()) -> tuple[Model, ...]:
    """The models of the given consortia and/or names (all when both are empty).

    >>> [m.name for m in select(("steel",))][:1]
    ['strip-surface-defect']
    """
    unknown = [c for c in consortia if c not in CONSORTIA]
    if unknown:
        raise KeyError(f"unknown consortium {unknown[0]!r} (known: {', '.join(CONSORTIA)})")
    unknown = [m for m in models if m not in MODELS_BY_NAME]
    if unknown:
        raise KeyError(f"unknown model {unknown[0]!r} (known: {', '.join(MODELS_BY_NAME)})")
    return tuple(
        m
        for m in MODELS
        if (not consortia or m.consortium in consortia) and (not models or m.name in models)
    )
