//! Deterministic data generator (seed + counts).

use std::sync::Arc;

use chrono::{Days, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::config::DataConfig;
use crate::model::*;
use crate::store::Company;
use crate::value::{NEVER_MS, empty_date};

/// A seeded UUID (version-4 shaped).
pub fn uuid(rng: &mut StdRng) -> Uuid {
    let b: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(b).into_uuid()
}

const FIRST: [&str; 16] = [
    "Adatum",
    "Trey",
    "School of",
    "Alpine",
    "Relecloud",
    "Coho",
    "Fabrikam",
    "Litware",
    "Northwind",
    "Proseware",
    "Contoso",
    "Wide World",
    "Tailspin",
    "Woodgrove",
    "Lamna",
    "Fourth",
];
const SECOND: [&str; 8] = [
    "Corporation",
    "Research",
    "Fine Art",
    "Ski House",
    "Winery",
    "Traders",
    "Inc.",
    "Ltd.",
];
const CITIES: [(&str, &str, &str, &str); 6] = [
    ("Atlanta", "GA", "US", "31772"),
    ("Chicago", "IL", "US", "61236"),
    ("Miami", "FL", "US", "37125"),
    ("Seattle", "WA", "US", "98101"),
    ("London", "", "GB", "W2 8HG"),
    ("Toronto", "ON", "CA", "M5E 1W7"),
];
const PEOPLE: [&str; 10] = [
    "Robert", "Ian", "Jesper", "Meagan", "Kim", "Sara", "Lars", "Mia", "Tomas", "Anna",
];
const SURNAMES: [&str; 10] = [
    "Townes",
    "Deberry",
    "Aaberg",
    "Bond",
    "Abercrombie",
    "Lind",
    "Holm",
    "Ito",
    "Novak",
    "Berg",
];
const ITEMS: [&str; 10] = [
    "ATHENS Desk",
    "PARIS Guest Chair, black",
    "ATHENS Mobile Pedestal",
    "LONDON Swivel Chair, blue",
    "ANTWERP Conference Table",
    "CONFERENCE Bundle 1-6",
    "AMSTERDAM Lamp",
    "BERLIN Guest Chair, yellow",
    "GRENOBLE Whiteboard, red",
    "ROME Guest Chair, green",
];

fn ms(d: NaiveDate, secs: u32) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("time")
        .and_utc()
        .timestamp_millis()
        + secs as i64 * 1000
}

/// The `currencyId` of a currency code: nil for the local currency (blank), else a stable id per code.
pub fn currency_id(code: &str) -> Uuid {
    match code {
        "" => Uuid::nil(),
        "EUR" => Uuid::from_u128(0xE0E0),
        other => Uuid::from_u128(
            other
                .bytes()
                .fold(0xC0DE_u128, |id, b| (id << 8) | u128::from(b)),
        ),
    }
}

/// Generate one company.
pub fn company(seed: u64, index: usize, cfg: &DataConfig, ver: &mut u64, ext: bool) -> Company {
    let mut rng =
        StdRng::seed_from_u64(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let base = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    let mut c = Company {
        id: uuid(&mut rng),
        name: if index == 0 {
            "CRONUS USA, Inc.".into()
        } else {
            format!("CRONUS {index}").into()
        },
        created: ms(base, 0),
        modified: ms(base, 3600),
        lcy: cfg.local_currency.as_str().into(),
        extension: ext,
        next_entry_no: 1,
        next_gl_entry_no: 1,
        ..Default::default()
    };
    c.display_name = c.name.clone();
    c.ver = ver_next(ver);
    // Items.
    for (i, name) in ITEMS.iter().enumerate() {
        c.items.push(Item {
            id: uuid(&mut rng),
            number: format!("{}", 1896 + i * 10).into(),
            description: (*name).into(),
            uom_id: Uuid::from_u128(0x1000 + i as u128),
            uom_code: "PCS".into(),
            unit_price: rng.random_range(1_000..100_000),
            tax_pct: if i % 4 == 0 { 0 } else { 2500 },
        });
    }
    // Dimensions and sets.
    let mut dims = Vec::new();
    for d in 0..cfg.dimensions {
        let (code, name) = match d {
            0 => ("DEPARTMENT".to_string(), "Department".to_string()),
            1 => ("AREA".to_string(), "Area".to_string()),
            n => (format!("DIM{n}"), format!("Dimension {n}")),
        };
        let dim = Dimension {
            id: uuid(&mut rng),
            ver: ver_next(ver),
            code: code.into(),
            name: name.into(),
            consolidation: "".into(),
            modified: ms(base, d as u32),
        };
        let mut vals = Vec::new();
        for k in 0..cfg.values_per_dimension {
            let dv = DimValue {
                id: uuid(&mut rng),
                ver: ver_next(ver),
                dimension_id: dim.id,
                code: format!("{}{}", &dim.code[..2.min(dim.code.len())], 10 * (k + 1)).into(),
                name: format!("{} {}", dim.name, k + 1).into(),
                consolidation: "".into(),
                modified: NEVER_MS,
            };
            vals.push(dv.clone());
            c.dim_values.insert(dv.id, dv);
        }
        dims.push((dim.clone(), vals));
        c.dimensions.insert(dim.id, dim);
    }
    c.dim_sets.push(Vec::new());
    if !dims.is_empty() && cfg.values_per_dimension > 0 {
        for k in 0..cfg.values_per_dimension {
            let set = dims
                .iter()
                .map(|(d, vals)| {
                    let val = &vals[(k + d.code.len()) % vals.len()];
                    DimEntry {
                        dim_id: d.id,
                        code: d.code.clone(),
                        name: d.name.clone(),
                        consolidation: d.consolidation.clone(),
                        value_id: val.id,
                        value_code: val.code.clone(),
                        value_name: val.name.clone(),
                        value_consolidation: val.consolidation.clone(),
                    }
                })
                .collect();
            c.dim_sets.push(set);
        }
    }
    let n_sets = c.dim_sets.len() as u32;
    // Customers and contacts.
    let mut cust = Vec::with_capacity(cfg.customers);
    for i in 0..cfg.customers {
        let city = CITIES[rng.random_range(0..CITIES.len())];
        let name = format!(
            "{} {}{}",
            FIRST[i % FIRST.len()],
            SECOND[(i / FIRST.len()) % SECOND.len()],
            if i >= FIRST.len() * SECOND.len() {
                format!(" {}", i)
            } else {
                String::new()
            }
        );
        let person = format!("{} {}", PEOPLE[i % 10], SURNAMES[(i / 10) % 10]);
        let party = Arc::new(Party {
            name: name.clone().into(),
            contact: person.into(),
            addr1: format!("{} Main Street", 10 + i).into(),
            addr2: "".into(),
            city: city.0.into(),
            state: city.1.into(),
            country: city.2.into(),
            post_code: city.3.into(),
            phone: format!("+1 425 555 {:04}", i % 10_000).into(),
            email: format!("ar{}@example.com", i).into(),
        });
        let foreign = i % 7 == 6;
        let cu = Customer {
            id: uuid(&mut rng),
            ver: ver_next(ver),
            number: format!("{}", 10000 + i * 10).into(),
            party,
            kind: 0,
            website: "".into(),
            salesperson: ["JO", "PS", "BC"][i % 3].into(),
            credit_limit: (i as i64 % 5) * 500_000,
            tax_liable: true,
            tax_reg_no: "".into(),
            // BC stores a blank code for the local currency.
            currency_code: if foreign { "EUR".into() } else { "".into() },
            currency_id: currency_id(if foreign { "EUR" } else { "" }),
            payment_terms_id: Uuid::from_u128(0x30D),
            shipment_method_id: Uuid::nil(),
            payment_method_id: Uuid::nil(),
            blocked: if i % 29 == 28 { 3 } else { 0 },
            modified: if i % 10 == 9 {
                NEVER_MS
            } else {
                ms(base, 60 * i as u32)
            },
        };
        for k in 0..cfg.contacts_per_customer {
            let ct = Contact {
                id: uuid(&mut rng),
                ver: ver_next(ver),
                customer_id: cu.id,
                first_name: PEOPLE[(i + k) % 10].into(),
                last_name: SURNAMES[(i + 3 * k) % 10].into(),
                title: if k == 0 {
                    "Accounts Payable".into()
                } else {
                    "".into()
                },
                email: format!("ap{}.{}@example.com", i, k).into(),
                phone: "".into(),
            };
            c.contacts.insert(ct.id, ct);
        }
        cust.push((
            cu.id,
            cu.number.clone(),
            cu.party.clone(),
            cu.currency_code.clone(),
            cu.currency_id,
        ));
        c.customers.insert(cu.id, cu);
    }
    // Invoices (tables sized up front: no rehashing of million-entry maps).
    c.invoices.reserve(cfg.invoices);
    c.ledger.reserve(cfg.invoices * 3 / 2 + cfg.credit_memos);
    c.invoice_cle.reserve(cfg.invoices);
    let n_items = c.items.len() as u32;
    let span_days = 730u64;
    for i in 0..cfg.invoices {
        if cust.is_empty() {
            break;
        }
        let (cid, cno, party, cur, cur_id) = cust[rng.random_range(0..cust.len())].clone();
        let day = (i as u64 * span_days) / cfg.invoices.max(1) as u64;
        let date = base + Days::new(day);
        let id = uuid(&mut rng);
        let dim_set = rng.random_range(0..n_sets);
        let mut lines = Vec::with_capacity(cfg.lines_per_invoice);
        for s in 0..cfg.lines_per_invoice {
            let item = rng.random_range(0..n_items);
            let it = &c.items[item as usize];
            lines.push(Line {
                id: uuid(&mut rng),
                document_id: id,
                sequence: 10000 * (s as u32 + 1),
                line_type: 2,
                item,
                quantity: rng.random_range(1..20) * 100,
                unit_price: it.unit_price,
                discount_pct: if rng.random_range(0..4) == 0 { 500 } else { 0 },
                tax_pct: it.tax_pct,
                shipment_date: date,
                dim_set: if s == 0 { dim_set } else { 0 },
            });
        }
        let roll = rng.random_range(0..100);
        let status = match roll {
            0..=1 => INV_DRAFT,
            2..=4 => INV_CANCELED,
            5..=44 => INV_PAID,
            _ => INV_OPEN,
        };
        let mut doc = SalesDoc {
            id,
            ver: ver_next(ver),
            number: if status == INV_DRAFT {
                format!("S-INV{}", 102_001 + i).into()
            } else {
                format!("{}", 103_001 + i).into()
            },
            external_doc_no: if i % 3 == 0 {
                format!("PO-{}", 5000 + i).into()
            } else {
                "".into()
            },
            doc_date: date,
            posting_date: date,
            due_date: date + Days::new(30),
            promised_pay_date: empty_date(),
            your_reference: "".into(),
            customer_id: cid,
            customer_number: cno,
            party,
            currency_code: cur,
            currency_id: cur_id,
            dim1: c.dim_sets[dim_set as usize]
                .first()
                .map(|e| e.value_code.clone())
                .unwrap_or_default(),
            dim2: c.dim_sets[dim_set as usize]
                .get(1)
                .map(|e| e.value_code.clone())
                .unwrap_or_default(),
            payment_terms_id: Uuid::from_u128(0x30D),
            shipment_method_id: Uuid::nil(),
            salesperson: "JO".into(),
            status,
            paid: 0,
            applies_to: None,
            modified: ms(date, rng.random_range(28_800..64_800)),
            dim_set,
            lines,
        };
        let total = doc.totals().incl;
        doc.paid = match status {
            INV_PAID => total,
            INV_OPEN if roll % 4 == 0 => total / 2,
            _ => 0,
        };
        if status != INV_DRAFT {
            add_invoice_cle(&mut c, &doc, total, ver_next(ver));
        }
        c.invoices.insert(doc.id, doc);
    }
    // Credit memos.
    for i in 0..cfg.credit_memos {
        if cust.is_empty() {
            break;
        }
        let (cid, cno, party, cur, cur_id) = cust[rng.random_range(0..cust.len())].clone();
        let date = base + Days::new(rng.random_range(0..span_days));
        let id = uuid(&mut rng);
        let lines = (0..cfg.lines_per_invoice.max(1))
            .map(|s| {
                let item = rng.random_range(0..n_items);
                let it = &c.items[item as usize];
                Line {
                    id: uuid(&mut rng),
                    document_id: id,
                    sequence: 10000 * (s as u32 + 1),
                    line_type: 2,
                    item,
                    quantity: 100,
                    unit_price: it.unit_price,
                    discount_pct: 0,
                    tax_pct: it.tax_pct,
                    shipment_date: empty_date(),
                    dim_set: 0,
                }
            })
            .collect();
        let doc = SalesDoc {
            id,
            ver: ver_next(ver),
            number: format!("{}", 104_001 + i).into(),
            external_doc_no: "".into(),
            doc_date: date,
            posting_date: date,
            due_date: date,
            promised_pay_date: empty_date(),
            your_reference: "".into(),
            customer_id: cid,
            customer_number: cno,
            party,
            currency_code: cur,
            currency_id: cur_id,
            dim1: "".into(),
            dim2: "".into(),
            payment_terms_id: Uuid::from_u128(0x30D),
            shipment_method_id: Uuid::nil(),
            salesperson: "JO".into(),
            status: 2,
            paid: 0,
            applies_to: None,
            modified: ms(date, 40_000),
            dim_set: 0,
            lines,
        };
        let total = doc.totals().incl;
        let e = LedgerEntry {
            id: uuid(&mut rng),
            ver: ver_next(ver),
            entry_no: c.next_entry_no,
            customer_id: doc.customer_id,
            customer_number: doc.customer_number.clone(),
            posting_date: doc.posting_date,
            due_date: doc.due_date,
            doc_type: 3,
            document_number: doc.number.clone(),
            external_doc_no: "".into(),
            description: format!("Credit Memo {}", doc.number).into(),
            currency_code: doc.currency_code.clone(),
            amount: -total,
            remaining: -total,
            open: true,
            closed_by_entry_no: 0,
            closed_at: empty_date(),
            document_id: doc.id,
            modified: doc.modified,
        };
        c.next_entry_no += 1;
        c.ledger.insert(e.id, e);
        c.credit_memos.insert(doc.id, doc);
    }
    // Payment journal with a few unposted lines.
    let jid = uuid(&mut rng);
    c.journals.insert(
        jid,
        PaymentJournal {
            id: jid,
            ver: ver_next(ver),
            code: "GENERAL".into(),
            name: "Default Journal Batch".into(),
            bal_account_id: Uuid::from_u128(0xBA4C),
            bal_account_no: "2910".into(),
            modified: NEVER_MS,
        },
    );
    let open: Vec<(Uuid, Box<str>, Uuid, Box<str>)> = c
        .invoices
        .rows
        .values()
        .filter(|d| d.status == INV_OPEN)
        .take(cfg.open_payments)
        .map(|d| {
            (
                d.id,
                d.number.clone(),
                d.customer_id,
                d.customer_number.clone(),
            )
        })
        .collect();
    for (k, (iid, ino, cid, cno)) in open.into_iter().enumerate() {
        let p = Payment {
            id: uuid(&mut rng),
            ver: ver_next(ver),
            journal_id: jid,
            line_number: 10000 * (k as i64 + 1),
            customer_id: cid,
            customer_number: cno,
            posting_date: base + Days::new(700),
            document_number: format!("G0000{}", k + 1).into(),
            external_doc_no: "".into(),
            amount: -10_000,
            applies_to_invoice_id: iid,
            applies_to_invoice_no: ino,
            description: "Payment".into(),
            comment: "".into(),
            bal_account_id: Uuid::from_u128(0xBA4C),
            bal_account_no: "2910".into(),
            modified: ms(base + Days::new(700), 0),
        };
        c.payments.insert(p.id, p);
    }
    c.next_invoice_no = 103_001 + cfg.invoices as u64;
    c
}

fn ver_next(ver: &mut u64) -> u64 {
    *ver += 1;
    *ver
}

pub use crate::posting::add_invoice_cle;
