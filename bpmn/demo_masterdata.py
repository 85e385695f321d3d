"""The demo plant's master data and records, for `make run` (called by bpmn.demo.seed).

Two products with effective master recipes, six materials with lots (one expired, one in
quarantine, one from a supplier not approved for its material), three pieces of equipment,
seven instruments (one overdue; two pressure calibrators as reference
standards, the spare one overdue), the document register, a training matrix and
qualifications (Victor's dispensing qualification expired yesterday; Lin holds the old
version of the granulation SOP). Everything goes through the real services: master data
drafted by Quinn QA and approved by Rita Reviewer with a signature, lots received by Quinn
and released by Rita, equipment cleaned by Alice and released by Sam, calibrations and
qualifications recorded by Quinn. Dates are relative to the day the seed runs.

Which demo user meets which refusal (README, "Demo"):
    alice   admitted to every operator step except drying (instrument PT-102 of FBD-01 is
            overdue); in the dispensing form, lot L-LAC-2511 is refused (expired), L-LAC-2602
            (supplier SUP-INDO not approved for lactose), L-MCC-2602 (in quarantine);
            L-PARA-2601 passes
    victor  dispensing refused: his SOP-DSP-001 v2 qualification expired yesterday
    lin     granulation refused: she holds SOP-PRD-012 v3; the task needs v4
    peter   the QP release; nobody else may take it
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from audit.canonical import Actor
from core import clock
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork

Credentials = Callable[[str], Any]

DOCUMENTS = {
    "SOP-DSP-001": ("Dispensing of starting materials", "物料称量发放", 2),
    "SOP-PRD-012": ("High-shear granulation", "高剪切制粒", 3),
    "SOP-PRD-014": ("Fluid bed drying", "流化床干燥", 1),
    "SOP-CLN-004": ("Cleaning of production equipment", "生产设备清洁", 3),
    "SOP-QA-003": ("Batch record review and release", "批记录审核与放行", 1),
}
MATERIALS = {
    "MAT-PARA": {"name": "Paracetamol", "name_zh": "对乙酰氨基酚", "oeb": 2, "unit": "kg",
                 "protective_equipment": ["FFP2 mask", "nitrile gloves"],
                 "storage": {"condition": "15-25 °C, dry, protected from light", "min_c": 15, "max_c": 25}},
    "MAT-IBU": {"name": "Ibuprofen", "name_zh": "布洛芬", "oeb": 3, "unit": "kg",
                "protective_equipment": ["FFP3 mask", "nitrile gloves", "coverall"],
                "storage": {"condition": "15-25 °C", "min_c": 15, "max_c": 25}},
    "MAT-LAC": {"name": "Lactose monohydrate", "name_zh": "一水乳糖", "oeb": 1, "unit": "kg",
                "storage": {"condition": "below 25 °C, max 60 % RH", "max_c": 25, "max_rh": 60}},
    "MAT-MCC": {"name": "Microcrystalline cellulose", "name_zh": "微晶纤维素", "oeb": 1, "unit": "kg",
                "storage": {"condition": "below 30 °C", "max_c": 30}},
    "MAT-PVP": {"name": "Povidone K30", "name_zh": "聚维酮 K30", "oeb": 1, "unit": "kg",
                "storage": {"condition": "below 25 °C, tightly closed", "max_c": 25}},
    "MAT-MGST": {"name": "Magnesium stearate", "name_zh": "硬脂酸镁", "oeb": 1, "unit": "kg",
                 "storage": {"condition": "below 25 °C", "max_c": 25}},
}
SUPPLIERS = {"SUP-HUAXIN": {"name": "Huaxin Pharmaceutical Materials", "country": "CN"},
             "SUP-EURO": {"name": "EuroExcipients GmbH", "country": "DE"},
             "SUP-INDO": {"name": "Indo Cellulose Ltd", "country": "IN"}}
ASL = [("SUP-HUAXIN", "MAT-PARA", "approved"), ("SUP-HUAXIN", "MAT-IBU", "approved"),
       ("SUP-EURO", "MAT-LAC", "approved"), ("SUP-EURO", "MAT-PVP", "approved"),
       ("SUP-EURO", "MAT-MGST", "approved"), ("SUP-INDO", "MAT-MCC", "conditional")]
EQUIPMENT = {
    "GR-01": {"name": "High-shear granulator", "class": "granulator", "location": "Granulation room 101",
              "instruments": ["TT-101"], "clean_hold_hours": 72},
    "FBD-01": {"name": "Fluid bed dryer", "class": "fluid_bed_dryer", "location": "Drying room 102",
               "instruments": ["TT-102", "PT-102"], "clean_hold_hours": 72},
    "SCALE-01": {"name": "Floor scale 300 kg", "class": "balance", "location": "Dispensary 001",
                 "instruments": ["WT-01"], "clean_hold_hours": 168},
}
INSTRUMENTS = {
    "TT-101": {"name": "Bowl temperature probe", "equipment": "GR-01", "range": {"min": 0, "max": 120, "unit": "°C"},
               "tolerance": {"value": 0.5, "unit": "°C"}, "interval_days": 180},
    "TT-102": {"name": "Inlet air temperature probe", "equipment": "FBD-01",
               "range": {"min": 0, "max": 150, "unit": "°C"}, "tolerance": {"value": 1, "unit": "°C"},
               "interval_days": 180},
    "PT-102": {"name": "Filter differential pressure", "equipment": "FBD-01",
               "range": {"min": 0, "max": 5000, "unit": "Pa"}, "tolerance": {"value": 25, "unit": "Pa"},
               "interval_days": 365, "tag": "PT-102.dp", "test_points": [500, 2500, 4500]},
    "WT-01": {"name": "Load cell", "equipment": "SCALE-01", "range": {"min": 0, "max": 300, "unit": "kg"},
              "tolerance": {"value": 0.05, "unit": "kg"}, "interval_days": 90, "warning_days": 10},
    "REF-T-01": {"name": "Reference thermometer", "location": "Metrology lab",
                 "range": {"min": -20, "max": 200, "unit": "°C"}, "tolerance": {"value": 0.05, "unit": "°C"},
                 "interval_days": 365, "reference": True},
    "REF-P-01": {"name": "Pressure calibrator", "location": "Metrology lab", "reference": True, "tag": "REF-P-01.dp",
                 "range": {"min": 0, "max": 6000, "unit": "Pa"}, "tolerance": {"value": 2, "unit": "Pa"},
                 "interval_days": 365},
    "REF-P-02": {"name": "Pressure calibrator (spare)", "location": "Metrology lab", "reference": True,
                 "range": {"min": 0, "max": 6000, "unit": "Pa"}, "tolerance": {"value": 2, "unit": "Pa"},
                 "interval_days": 365},
}


def _recipe(code: str, product: str, product_zh: str, api: str, api_kg: float) -> dict[str, Any]:
    return {
        "code": code, "product": product, "product_zh": product_zh, "version": 1,
        "batch_size": {"quantity": 100, "unit": "kg"},
        "bom": [{"material": api, "quantity": api_kg, "unit": "kg", "tolerance_pct": 0.5,
                 "oeb": MATERIALS[api]["oeb"]},
                {"material": "MAT-LAC", "quantity": round(95 - api_kg, 2), "unit": "kg", "tolerance_pct": 1, "oeb": 1},
                {"material": "MAT-PVP", "quantity": 4, "unit": "kg", "tolerance_pct": 1, "oeb": 1},
                {"material": "MAT-MGST", "quantity": 1, "unit": "kg", "tolerance_pct": 2, "oeb": 1}],
        "equipment": [{"class": "balance", "equipment": ["SCALE-01"]},
                      {"class": "granulator", "equipment": ["GR-01"]},
                      {"class": "fluid_bed_dryer", "equipment": ["FBD-01"]}],
        "phases": [
            {"name": "Granulation", "equipment_class": "granulator",
             "setpoints": [{"parameter": "impeller speed", "value": 150, "unit": "rpm"},
                           {"parameter": "granulation time", "value": 6, "unit": "min"}],
             "cpp": [{"parameter": "impeller speed", "min": 120, "max": 180, "unit": "rpm"},
                     {"parameter": "granulation time", "min": 5, "max": 8, "unit": "min"}]},
            {"name": "Drying", "equipment_class": "fluid_bed_dryer",
             "setpoints": [{"parameter": "inlet air temperature", "value": 60, "unit": "°C",
                            "tag": "FBD-01.inlet_temp"}],
             "cpp": [{"parameter": "inlet air temperature", "min": 55, "max": 65, "unit": "°C",
                      "tag": "FBD-01.inlet_temp"}]}],
        "ipc": [{"test": "loss on drying", "max": 2.0, "unit": "%", "frequency": "end of drying"},
                {"test": "tablet hardness", "min": 60, "max": 100, "unit": "N", "frequency": "every 30 min"}],
        "yield": {"min_pct": 95, "max_pct": 101},
        "sops": ["SOP-DSP-001", "SOP-PRD-012", "SOP-PRD-014", "SOP-CLN-004"],
    }


RECIPES = {"RCP-PARA-500": _recipe("RCP-PARA-500", "Paracetamol 500 mg tablets", "对乙酰氨基酚片 500 mg",
                                   "MAT-PARA", 50),
           "RCP-IBU-200": _recipe("RCP-IBU-200", "Ibuprofen 200 mg tablets", "布洛芬片 200 mg", "MAT-IBU", 20)}
TRAINING_MATRIX = {"operator": ["SOP-DSP-001", "SOP-PRD-012", "SOP-PRD-014", "SOP-CLN-004"],
                   "supervisor": ["SOP-DSP-001", "SOP-PRD-012", "SOP-PRD-014", "SOP-CLN-004"],
                   "qa": ["SOP-QA-003"], "qp": ["SOP-QA-003"]}
START_DATA = {"gated_batch": {"recipe": "RCP-PARA-500", "recipe_revision": 1, "product": "Paracetamol 500 mg tablets"}}


def put_in_force(db: Database, settings: Settings, credentials: Credentials, kind: str,
                 items: dict[str, dict[str, Any]], action: str = "create", *, catalogue: Any = None,
                 purpose: str = "demo plant") -> None:
    """One change set of `kind` drafted by Quinn and approved by Rita (one signing ceremony)."""
    from masterdata import changes
    from masterdata.changes import ChangeCatalogue
    from masterdata.kinds import register_kinds

    catalogue = catalogue or register_kinds(ChangeCatalogue()).freeze()
    key_field = catalogue.get(kind).key_field
    with UnitOfWork(db, Actor("quinn", "Quinn QA")) as uow:
        found = changes.draft_set(uow, catalogue, kind, [(key, {key_field: key, **data}, action)
                                                         for key, data in items.items()],
                                  f"{purpose}: {kind.replace('_', ' ')} data", settings=settings)
        uow.commit()
    creds = credentials("rita")  # the password checked before the write transaction (signatures.precheck)
    with UnitOfWork(db, Actor("rita", "Rita Reviewer")) as uow:
        changes.approve_set(uow, catalogue, found.id, credentials=creds, settings=settings,
                            reason=f"{purpose} data checked against the source documents")
        uow.commit()


def seed(db: Database, settings: Settings, credentials: Credentials) -> None:
    """Put the demo plant's master data in force and record its lots, logbook, calibrations
    and qualifications. `credentials(user_id)` gives the components of one ceremony."""
    from masterdata import calibration, equipment_log, lots, qualifications
    from masterdata.changes import ChangeCatalogue
    from masterdata.kinds import register_kinds

    catalogue = register_kinds(ChangeCatalogue()).freeze()
    quinn, rita = Actor("quinn", "Quinn QA"), Actor("rita", "Rita Reviewer")
    alice, sam = Actor("alice", "Alice Operator"), Actor("sam", "Sam Supervisor")
    today = clock.now().date()
    from signatures.accountability import get_statement, sign_statement

    for actor in (quinn, rita, alice, sam):  # each signs the accountability statement before their first signature
        with db.read_session() as session:
            signed = get_statement(session, actor.user_id) is not None  # (a site's people may have signed it already)
        if not signed:
            creds = credentials(actor.user_id)
            with UnitOfWork(db, actor) as uow:
                sign_statement(uow, creds, settings)
                uow.commit()

    def in_force(kind: str, items: dict[str, dict[str, Any]], action: str = "create") -> None:
        put_in_force(db, settings, credentials, kind, items, action, catalogue=catalogue)

    def act(actor: Actor, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        creds = credentials(actor.user_id)
        with UnitOfWork(db, actor) as uow:
            result = fn(uow, *args, credentials=creds, settings=settings, **kwargs)
            uow.commit()
        return result

    def day(offset: int) -> str:
        return (today + timedelta(days=offset)).isoformat()

    in_force("document", {code: {"title": title, "title_zh": zh, "type": "sop", "version": version,
                                 "effective_date": day(-400)} for code, (title, zh, version) in DOCUMENTS.items()})
    in_force("document", {"SOP-PRD-012": {"title": "High-shear granulation", "title_zh": "高剪切制粒", "type": "sop",
                                          "version": 4, "effective_date": day(0)}}, action="change")
    in_force("material", MATERIALS)
    in_force("supplier", SUPPLIERS)
    in_force("approved_supplier", {f"{s}:{m}": {"supplier": s, "material": m, "status": status,
                                                "valid_until": day(365),
                                                **({"conditions": "COA and identity test on every lot"}
                                                   if status == "conditional" else {})}
                                   for s, m, status in ASL})
    in_force("instrument", INSTRUMENTS)
    in_force("equipment", EQUIPMENT)
    in_force("recipe", RECIPES)
    in_force("training_matrix", {role: {"sops": sops} for role, sops in TRAINING_MATRIX.items()})

    received = [("L-PARA-2601", "MAT-PARA", "SUP-HUAXIN", 500, 700, True),
                ("L-IBU-2601", "MAT-IBU", "SUP-HUAXIN", 200, 700, True),
                ("L-LAC-2511", "MAT-LAC", "SUP-EURO", 400, -1, False),      # expired yesterday
                ("L-LAC-2602", "MAT-LAC", "SUP-INDO", 400, 700, False),     # SUP-INDO is not approved for lactose
                ("L-MCC-2602", "MAT-MCC", "SUP-INDO", 300, 700, False),     # in quarantine, not tested yet
                ("L-PVP-2601", "MAT-PVP", "SUP-EURO", 50, 700, True),
                ("L-MGST-2601", "MAT-MGST", "SUP-EURO", 20, 700, True)]
    for lot, material, supplier, quantity, expiry, release in received:
        act(quinn, lots.receive_lot, lot=lot, material=material, supplier=supplier, quantity=quantity, unit="kg",
            expiry=day(expiry), note="demo goods receipt")
        if release:
            act(rita, lots.change_lot_status, lot, "released", reason="COA reviewed, identity test passed")

    for code in EQUIPMENT:
        act(alice, equipment_log.log_equipment, code, "clean", note="cleaned per SOP-CLN-004")
        act(sam, equipment_log.log_equipment, code, "released", note="visual inspection passed")
    act(quinn, calibration.record_calibration, "REF-T-01", calibrated_on=day(-30), result="pass",
        certificate="NIM-T-2026-0042", note="external calibration")
    act(quinn, calibration.record_calibration, "REF-P-01", calibrated_on=day(-60), result="pass",
        certificate="NIM-P-2026-0117", note="external calibration")
    act(quinn, calibration.record_calibration, "REF-P-02", calibrated_on=day(-400), result="pass",
        certificate="NIM-P-2025-0033", note="external calibration")  # overdue: refused as a reference
    for code in ("TT-101", "TT-102"):
        act(quinn, calibration.record_calibration, code, calibrated_on=day(-20), result="pass", reference="REF-T-01",
            certificate=f"CAL-{code}", note="3-point calibration, as found within tolerance")
    act(quinn, calibration.record_calibration, "WT-01", calibrated_on=day(-5), result="pass",
        certificate="CAL-WT-01", note="5-point calibration with class M1 weights")
    act(quinn, calibration.record_calibration, "PT-102", calibrated_on=day(-372), result="pass",
        certificate="CAL-PT-102", note="annual calibration")  # due a week ago: overdue

    grants = [("alice", "SOP-DSP-001", 2, day(-200), day(365)), ("alice", "SOP-PRD-012", 4, day(-10), day(720)),
              ("alice", "SOP-PRD-014", 1, day(-200), day(365)), ("alice", "SOP-CLN-004", 3, day(-200), day(365)),
              ("victor", "SOP-DSP-001", 2, day(-366), day(-1)),          # expired yesterday
              ("lin", "SOP-PRD-012", 3, day(-300), day(365)),            # the version before the one in force
              ("lin", "SOP-DSP-001", 2, day(-100), day(365))]
    for user, sop, version, granted, until in grants:
        act(quinn, qualifications.grant_qualification, user, sop, version, granted_on=granted, valid_until=until,
            basis="demo: read and understood, practical assessment passed")

