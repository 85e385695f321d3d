"""What each kind of special work requires: the permit's rules as data (no database, no I/O).

    WORK_TYPES                 the five work types, with their labels (en, zh)
    HAZARD_MEASURES[type]      the hazard checklist of the work type: the measures that must be in place
    requirements(type)         isolation needed?  gas test needed?  SOPs the crew must be qualified on,
                               and the interval of the periodic re-checks during the work
    GAS_LIMITS                 the atmosphere a permit may be issued in (O2, flammables, H2S, CO)
    isolated(tag, value)       whether an isolation point's reading shows it isolated

The hazard-assessment forms (forms/hazards_<type>.json) are built from HAZARD_MEASURES
(`hazard_form`); a test checks that the shipped forms agree with this table.

Isolation points are boolean equipment tags named for the energised state:
`<equipment>.closed` (a breaker or contactor closed), `<equipment>.open` (a valve open),
`<equipment>.energised`. A point is isolated when its reading is false, and restored when
its reading is true again after the locks are removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

PROCESS_KEY = "work_permit"

HOT_WORK, CONFINED_SPACE, WORK_AT_HEIGHT, ENERGY_ISOLATION, TEMPORARY_ELECTRICAL = (
    "hot_work", "confined_space", "work_at_height", "energy_isolation", "temporary_electrical")

WORK_TYPES: dict[str, tuple[str, str]] = {
    HOT_WORK: ("Hot work", "动火作业"),
    CONFINED_SPACE: ("Confined-space entry", "受限空间作业"),
    WORK_AT_HEIGHT: ("Work at height", "高处作业"),
    ENERGY_ISOLATION: ("Energy isolation (lockout-tagout)", "能量隔离（上锁挂牌）"),
    TEMPORARY_ELECTRICAL: ("Temporary electrical work", "临时用电作业"),
}

# (field, English, Chinese): every measure must be confirmed in place before the area owner signs
HAZARD_MEASURES: dict[str, tuple[tuple[str, str, str], ...]] = {
    HOT_WORK: (
        ("combustibles_removed", "Combustibles removed or covered within 10 m", "10 米内可燃物已清除或遮盖"),
        ("fire_watch", "Fire watch posted for the work and 30 minutes after", "已设监火人（作业期间及结束后 30 分钟）"),
        ("extinguisher", "Fire extinguisher at the work place", "作业点已配备灭火器"),
        ("detectors_isolated", "Smoke detectors of the zone isolated with the fire panel", "区域烟感已在消防主机隔离"),
        ("drains_covered", "Drains and openings covered", "地漏及孔洞已封堵"),
    ),
    CONFINED_SPACE: (
        ("space_emptied", "Space emptied, cleaned and ventilated", "受限空间已排空、清洗并通风"),
        ("attendant", "Attendant posted at the entry for the whole entry", "入口处全程设监护人"),
        ("rescue_plan", "Rescue plan and rescue equipment at the entry", "救援方案及救援器材已就位"),
        ("forced_ventilation", "Forced ventilation running", "强制通风已开启"),
        ("communication", "Communication between entrant and attendant tested", "作业人员与监护人通讯已测试"),
    ),
    WORK_AT_HEIGHT: (
        ("fall_protection", "Fall-arrest harnesses with anchor points", "安全带及锚固点已就位"),
        ("platform_inspected", "Scaffold or platform inspected and tagged", "脚手架或平台已检查并挂牌"),
        ("area_barriered", "Area below barriered and signed", "下方区域已设围挡和标识"),
        ("tools_tethered", "Tools tethered against falling", "工具已系防坠绳"),
    ),
    ENERGY_ISOLATION: (
        ("sources_identified", "All energy sources identified (electrical, steam, pneumatic, stored)",
         "已识别全部能量源（电、蒸汽、气动、储能）"),
        ("stored_energy_released", "Stored energy released or blocked", "储存能量已释放或阻断"),
        ("zero_energy_verified", "Zero-energy state to be verified by trying to start", "将通过试启动确认零能量状态"),
        ("personal_locks", "Each crew member applies a personal lock", "每名作业人员均挂个人锁"),
    ),
    TEMPORARY_ELECTRICAL: (
        ("rcd_protection", "Supply protected by an RCD (30 mA)", "电源配有漏电保护器（30 mA）"),
        ("cables_inspected", "Cables and connectors inspected, routed safely", "电缆及接头已检查并安全敷设"),
        ("qualified_electrician", "Connection made by a licensed electrician", "由持证电工接线"),
        ("disconnection_point", "Disconnection point marked and accessible", "断开点已标识且便于操作"),
    ),
}

# SOPs every crew member must hold a current qualification on (the training register decides)
GENERAL_SOP = "SOP-EHS-001"          # permit-to-work system
CONTRACTOR_SOP = "SOP-EHS-010"       # contractor site induction
WORK_TYPE_SOPS: dict[str, tuple[str, ...]] = {
    HOT_WORK: ("SOP-EHS-002",),
    CONFINED_SPACE: ("SOP-EHS-003",),
    WORK_AT_HEIGHT: ("SOP-EHS-004",),
    ENERGY_ISOLATION: ("SOP-EHS-005",),
    TEMPORARY_ELECTRICAL: ("SOP-EHS-006",),
}
CONTRACTOR_ROLE = "contractor"
MAX_WINDOW_HOURS = 12


@dataclass(frozen=True)
class GasLimit:
    name: str
    tag_suffix: str           # the detector's tag: <detector>.<suffix>
    unit: str
    low: Decimal | None
    high: Decimal | None      # inclusive bounds; a reading outside blocks the permit
    label_en: str
    label_zh: str
    below: bool = False       # the high bound itself is out of range ("below 10 % LEL")

    def within(self, value: Decimal) -> bool:
        if self.low is not None and value < self.low:
            return False
        if self.high is not None and (value >= self.high if self.below else value > self.high):
            return False
        return True

    def text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low}-{self.high} {self.unit}"
        return f"{'<' if self.below else '<='} {self.high} {self.unit}"


GAS_LIMITS: tuple[GasLimit, ...] = (
    GasLimit("o2", "o2", "%", Decimal("19.5"), Decimal("23.5"), "Oxygen", "氧气"),
    GasLimit("lel", "lel", "%LEL", None, Decimal("10"), "Flammables", "可燃气体", below=True),
    GasLimit("h2s", "h2s", "ppm", None, Decimal("5"), "Hydrogen sulphide", "硫化氢"),  # half the 10 ppm OEL
    GasLimit("co", "co", "ppm", None, Decimal("25"), "Carbon monoxide", "一氧化碳"),
)
GAS_BY_NAME = {g.name: g for g in GAS_LIMITS}
GAS_DETECTORS = ("GAS-01",)


@dataclass(frozen=True)
class Requirements:
    work_type: str
    needs_isolation: bool
    needs_gas_test: bool
    sops: tuple[str, ...]
    recheck_every: str          # ISO 8601 duration of the periodic re-checks during the work

    def as_data(self) -> dict[str, Any]:
        # recheck_minutes: between the periodic re-checks (permit.next_check); recheck_cycle: the
        # same as a timer cycle, read by permits still running on the first version of the diagram
        return {"work_type": self.work_type, "needs_isolation": self.needs_isolation,
                "needs_gas_test": self.needs_gas_test, "sops": list(self.sops),
                "recheck_cycle": f"R/PT{self.recheck_every}", "recheck_minutes": recheck_minutes(self.recheck_every)}


_ISOLATION = {HOT_WORK: True, CONFINED_SPACE: True, WORK_AT_HEIGHT: False, ENERGY_ISOLATION: True,
              TEMPORARY_ELECTRICAL: True}
_GAS = {HOT_WORK: True, CONFINED_SPACE: True, WORK_AT_HEIGHT: False, ENERGY_ISOLATION: False,
        TEMPORARY_ELECTRICAL: False}
def recheck_minutes(every: str) -> int:
    """'1H' -> 60, '30M' -> 30 (the re-check intervals of the table below)."""
    number, unit = int(every[:-1]), every[-1].upper()
    return number * {"H": 60, "M": 1}[unit]


_RECHECK = {HOT_WORK: "1H", CONFINED_SPACE: "1H", WORK_AT_HEIGHT: "4H", ENERGY_ISOLATION: "4H",
            TEMPORARY_ELECTRICAL: "4H"}


class UnknownWorkType(ValueError):
    pass


def requirements(work_type: str) -> Requirements:
    if work_type not in WORK_TYPES:
        raise UnknownWorkType(f"unknown work type {work_type!r}: expected one of {', '.join(WORK_TYPES)}")
    return Requirements(work_type, _ISOLATION[work_type], _GAS[work_type],
                        (GENERAL_SOP, *WORK_TYPE_SOPS[work_type]), _RECHECK[work_type])


ENERGISED_SUFFIXES = (".closed", ".open", ".energised")


def is_isolation_tag(tag: str) -> bool:
    return tag.endswith(ENERGISED_SUFFIXES)


def isolated(tag: str, value: Any) -> bool:
    """An isolation point reads isolated when its energised-state tag reads false."""
    if not is_isolation_tag(tag):
        raise ValueError(f"{tag} is not an isolation point (its name must end in {', '.join(ENERGISED_SUFFIXES)})")
    return value is False or value == 0


def hazard_form(work_type: str) -> dict[str, Any]:
    """The hazard-assessment form of a work type (JSON Schema with the forms/ keywords)."""
    en, zh = WORK_TYPES[work_type]
    fields: dict[str, Any] = {}
    for name, label_en, label_zh in HAZARD_MEASURES[work_type]:
        fields[name] = {"type": "boolean", "title": label_en, "x-gmp-i18n": {"zh": {"title": label_zh}}}
    fields["further_measures"] = {"type": "string", "title": "Further measures for this job", "maxLength": 2000,
                                  "x-gmp-i18n": {"zh": {"title": "本作业的其他措施"}}}
    return {"type": "object", "title": f"Hazard assessment: {en}", "x-gmp-i18n": {"zh": {"title": f"危害评估：{zh}"}},
            "properties": fields, "required": [m[0] for m in HAZARD_MEASURES[work_type]],
            "additionalProperties": False}


def missing_measures(work_type: str, data: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The measures of the work type's checklist not confirmed in `data`."""
    return [m for m in HAZARD_MEASURES[work_type] if data.get(m[0]) is not True]
