//! Printed reports: the report tables and the shift settlement as A4 PDFs in zh-CN or English (drawn by
//! `voltvend_receipt::pdf_report` with the server's CJK font), headed by the caller's premises and footed by
//! who printed them and when.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use voltvend_receipt::{Language, ReportBlock, ReportDocument};

use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::http::AppState;

/// A report column's heading: (CSV key, English, Chinese).
const COLUMNS: &[(&str, &str, &str)] = &[
    ("label", "Name", "名称"),
    ("currency", "Currency", "币种"),
    ("sales", "Sales", "笔数"),
    ("paid", "Paid", "实收"),
    ("arrears", "Arrears", "欠费"),
    ("fees", "Fees", "费用"),
    ("tax", "Tax", "税额"),
    ("energy", "Energy", "电费"),
    ("credit", "Credit", "充值"),
    ("customer", "Customer", "客户"),
    ("premises", "Premises", "房屋"),
    ("status", "Status", "状态"),
    ("balance", "Balance", "余额"),
    ("serial", "Meter", "表号"),
    ("unit", "Unit", "单位"),
    ("sold", "Sold", "累计售出"),
    ("sold_value", "Sold value", "售出金额"),
    ("last_sale_at", "Last sale", "最近售电"),
    ("return_at", "Returned", "回抄时间"),
    ("return_source", "Source", "回抄来源"),
    ("remaining", "Remaining", "剩余"),
    ("remaining_value", "Value", "结余金额"),
    ("utility", "Utility", "类别"),
    ("meters", "Meters", "表数"),
    ("readings", "Readings", "读数"),
    ("consumption", "Consumption", "用量"),
    ("previous", "Compared with", "对比期"),
    ("property", "Property", "项目"),
    ("kind", "Account", "科目"),
    ("accounts", "Accounts", "账户数"),
    ("debits", "Debits", "借方"),
    ("credits", "Credits", "贷方"),
    ("balance", "Balance", "余额"),
    ("change_percent", "Change %", "变化率%"),
    ("property_fees", "Rent and fees", "房租物业费"),
    ("start", "From", "起始"),
    ("demand_unit", "Demand unit", "负荷单位"),
    ("average", "Average demand", "平均负荷"),
    ("method", "Method", "支付方式"),
    ("at", "Time", "时间"),
    ("reference", "Reference", "凭证号"),
    ("reason_code", "Code", "原因代码"),
    ("reason", "Reason", "原因"),
    ("refunded_at", "Refunded", "退款时间"),
    ("due_on", "Due on", "截止日"),
    ("carried", "Earlier unpaid", "往期未付"),
    ("usage", "Usage", "用电费用"),
    ("standing_charge", "Standing charge", "固定费"),
    ("credit_applied", "Credit applied", "预存抵扣"),
    ("late_fee", "Late fee", "滞纳金"),
    ("amount", "Amount", "应付"),
    ("outstanding", "Still owed", "未付"),
];

/// Columns a printed page leaves out: ids are for machines (the CSV and XLSX keep them).
pub fn printable(key: &str) -> bool {
    key != "key" && !key.ends_with("_id")
}

pub fn column(key: &str, language: Language) -> &str {
    COLUMNS.iter().find(|c| c.0 == key).map_or(key, |c| if language == Language::ZhCn { c.2 } else { c.1 })
}

/// A report's title from its file name (`sales-by-operator`, `arrears`, `consumption-by-child`…).
pub fn title(name: &str, language: Language) -> String {
    let zh = language == Language::ZhCn;
    let by = |what: &str| -> Option<(&str, &str)> {
        Some(match what {
            "operator" => ("operator", "操作员"),
            "vending_point" => ("vending point", "售电点"),
            "method" => ("payment method", "支付方式"),
            "tariff" => ("tariff", "电价"),
            "property" => ("property", "项目"),
            "day" => ("day", "日"),
            "month" => ("month", "月"),
            "child" => ("building", "楼栋"),
            "premises" => ("premises", "房屋"),
            "meter" => ("meter", "表"),
            "category" => ("category", "分类"),
            "sub_item" => ("sub-item", "分项"),
            "tou_period" => ("TOU period", "时段"),
            _ => return None,
        })
    };
    let named = if let Some(what) = name.strip_prefix("sales-by-") {
        by(what).map(|(en, cn)| if zh { format!("售电汇总（按{cn}）") } else { format!("Sales by {en}") })
    } else if let Some(what) = name.strip_prefix("consumption-by-") {
        by(what).map(|(en, cn)| if zh { format!("用电量（按{cn}）") } else { format!("Consumption by {en}") })
    } else {
        let (en, cn) = match name {
            "arrears" => ("Arrears", "欠费清单"),
            "low-balance" => ("Low balance", "余额不足清单"),
            "zero-balance" => ("Zero balance", "零余额清单"),
            "accumulated-balances" => ("Accumulated balances", "累计结余"),
            "refused-payments" => ("Refused payments", "拒收款项"),
            "books" => ("Books by property", "分项目账簿"),
            "shift-settlement" => ("Shift settlement", "交班结算单"),
            "load-curve-hour" => ("Load curve by hour", "负荷曲线（按小时）"),
            "load-curve-day" => ("Load curve by day", "负荷曲线（按日）"),
            n if n.starts_with("bills-") => ("Bills", "账单明细"),
            _ => (name, name),
        };
        Some((if zh { cn } else { en }).to_string())
    };
    named.unwrap_or_else(|| name.to_string())
}

/// The document: headed by the caller's premises, footed by who printed it and when (the server's clock).
pub async fn document(
    app: &AppState,
    p: &Principal,
    language: Language,
    title: String,
    lines: Vec<String>,
    blocks: Vec<ReportBlock>,
) -> ApiResult<ReportDocument> {
    let heading = app.store.premises(p.scope()).await?.name;
    // To the second: a printed time is read by people.
    let now = app.clock.now().round(jiff::Unit::Second).map_err(|e| ApiError::internal(e.to_string()))?.to_string();
    let who = &p.operator.display_name;
    let footer = match language {
        Language::ZhCn => format!("打印时间 {now}，操作员 {who}"),
        Language::En => format!("Printed {now} by {who}"),
    };
    Ok(ReportDocument { language, heading, title, lines, blocks, footer })
}

/// The PDF as an attachment named after the report.
pub fn pdf(app: &AppState, doc: &ReportDocument, name: &str) -> ApiResult<Response> {
    let bytes = voltvend_receipt::pdf_report(doc, app.api.font.as_ref()).map_err(|e| {
        if e.code() == "receipt_font_missing" {
            ApiError::new("receipt_font_missing", e.to_string())
        } else {
            ApiError::new("receipt_failed", e.to_string()).with("receipt_code", e.code())
        }
    })?;
    let mut r = (StatusCode::OK, Body::from(bytes)).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.pdf\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
