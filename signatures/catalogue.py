"""The seeded role catalogue (written by migration 0002; more roles by `gmp role add`).

name -> (kind, English label, Chinese label, description)
"""
from __future__ import annotations

SEED_ROLES: dict[str, tuple[str, str, str, str]] = {
    "admin": ("admin", "System administrator", "系统管理员", "User and configuration management only; never GMP work or GMP signatures"),
    "auditor": ("audit", "Auditor", "审计员", "Read-only access to records and the audit trail"),
    "operator": ("business", "Operator", "操作员", "Executes production steps"),
    "verifier": ("business", "Verifier", "复核人", "Second person who verifies critical steps"),
    "supervisor": ("business", "Production supervisor", "生产主管", "Reviews production records"),
    "qa": ("business", "Quality assurance", "质量保证", "QA review and approval"),
    "qp": ("business", "Qualified Person", "质量受权人", "Certifies (releases) batches"),
    "qc": ("business", "Quality control", "质量控制", "Laboratory testing and material release"),
    "validation": ("business", "Validation", "验证", "Validation protocols and reports"),
    "planner": ("business", "Planner", "计划员", "Creates batch orders"),
    "ehs_officer": ("business", "EHS officer", "EHS专员", "Environment, health and safety"),
    "area_owner": ("business", "Area owner", "区域负责人", "Owns a production or utility area"),
    "gas_tester": ("business", "Gas tester", "气体检测员", "Atmosphere testing for permits"),
    "isolation_authority": ("business", "Isolation authority", "隔离授权人", "Energy isolation for permits"),
    "trainer": ("business", "Trainer", "培训师", "Delivers and assesses training"),
    "training_coordinator": ("business", "Training coordinator", "培训协调员", "Plans training and qualifications"),
    "metrology": ("business", "Metrology", "计量", "Calibration of instruments"),
    "technician": ("business", "Technician", "技术员", "Maintenance and calibration work"),
    "purchasing": ("business", "Purchasing", "采购", "Supplier and purchasing management"),
    "document_control": ("business", "Document control", "文件控制", "Controlled documents lifecycle"),
    "author": ("business", "Author", "起草人", "Authors controlled documents"),
    "reviewer": ("business", "Reviewer", "审核人", "Reviews controlled documents"),
    "supplier_auditor": ("business", "Supplier auditor", "供应商审计员", "Audits suppliers"),
    "investigator": ("business", "Investigator", "调查员", "Investigates deviations"),
    "requester": ("business", "Requester", "申请人", "Requests changes, permits or work"),
}
