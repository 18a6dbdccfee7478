//! Reading the users of the Django site that tollgate replaces.
//!
//! Input: what `python manage.py dumpdata auth.User` writes (JSON, with or without
//! `--indent`), or the same with `--format jsonl`. Ids are kept, because tokens issued by
//! the Django site carry `user_id` and must keep resolving to the same user; password hashes
//! are kept as they are and verified by [`crate::users::password`] (so nobody has to reset a
//! password).
//!
//! Decisions:
//! - Records of other models are skipped, so a whole-site `dumpdata` (contenttypes,
//!   sessions, ...) imports as is. But a file with records and none of the user model is an
//!   error (`import_no_users`), naming the models it does hold: that is the usual sign of a
//!   custom `AUTH_USER_MODEL`, for which [`parse_dumpdata_model`] takes the model's label.
//! - A user record must have every field of `auth.User` (custom models derived from
//!   `AbstractUser` have them all); extra fields, `groups` and `user_permissions` are
//!   ignored (tollgate has no permissions).
//! - Dumps made with `--natural-primary` lack the `pk` and are refused: the ids matter.
//! - Any problem refuses the whole file (nothing half-imported), with the record's index
//!   (0-based position in the list, or line order for jsonl) and the field in the error.
//! - Datetimes without an offset (a site with `USE_TZ = False` dumps naive local times) are
//!   taken as UTC: the site's time zone is not in the dump, and `last_login`/`date_joined`
//!   are informational.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

/// One user as the Django site had it.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportedUser {
    pub id: u64,
    pub username: String,
    pub email: String,
    /// Django's encoded hash, as is (see [`crate::users::password::is_supported`]).
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    /// Unix seconds (fractions of a second dropped).
    pub last_login: Option<i64>,
    /// Unix seconds (fractions of a second dropped).
    pub date_joined: i64,
}

/// Hand-written so that logging a user never prints the password hash.
impl fmt::Debug for ImportedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportedUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("first_name", &self.first_name)
            .field("last_name", &self.last_name)
            .field("is_active", &self.is_active)
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .field("last_login", &self.last_login)
            .field("date_joined", &self.date_joined)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Invalid,
    Duplicate,
    NoUsers,
}

/// Why a dump was refused. Messages never contain password hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    kind: Kind,
    index: Option<usize>,
    field: Option<&'static str>,
    message: String,
}

impl ImportError {
    /// Every value [`ImportError::code`] can return: stable API.
    pub const ALL_CODES: [&'static str; 4] = [
        "import_json",
        "import_invalid",
        "import_duplicate",
        "import_no_users",
    ];

    /// Stable machine-readable code: `import_json` (not JSON, or not a list of records),
    /// `import_invalid` (a record or field has the wrong shape or value),
    /// `import_duplicate` (an id or username appears twice), `import_no_users` (records,
    /// but none of the user model).
    pub fn code(&self) -> &'static str {
        match self.kind {
            Kind::Json => "import_json",
            Kind::Invalid => "import_invalid",
            Kind::Duplicate => "import_duplicate",
            Kind::NoUsers => "import_no_users",
        }
    }

    /// The record's 0-based position in the dump.
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// `pk`, `model`, `fields` or the name of a field inside `fields`.
    pub fn field(&self) -> Option<&'static str> {
        self.field
    }

    fn json(message: String) -> Self {
        ImportError {
            kind: Kind::Json,
            index: None,
            field: None,
            message,
        }
    }

    fn invalid(index: usize, field: Option<&'static str>, message: String) -> Self {
        ImportError {
            kind: Kind::Invalid,
            index: Some(index),
            field,
            message,
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.index, self.field) {
            (Some(i), Some(field)) => write!(f, "record {i}, field {field:?}: ")?,
            (Some(i), None) => write!(f, "record {i}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ImportError {}

/// The users in a `dumpdata` of Django's default user model, `auth.User`.
pub fn parse_dumpdata(json: &str) -> Result<Vec<ImportedUser>, ImportError> {
    parse_dumpdata_model(json, "auth.user")
}

/// The users in a `dumpdata` of a custom user model (`AUTH_USER_MODEL`, e.g.
/// `accounts.User`), compared case-insensitively as Django does for model names.
pub fn parse_dumpdata_model(json: &str, model: &str) -> Result<Vec<ImportedUser>, ImportError> {
    // Some editors and Windows tools prepend a BOM; Django never writes one.
    let json = json.strip_prefix('\u{feff}').unwrap_or(json);
    let records = read_records(json)?;
    let mut users = Vec::new();
    let mut other_models: Vec<String> = Vec::new();
    let mut by_id: HashMap<u64, usize> = HashMap::new();
    let mut by_username: HashMap<String, usize> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        let Value::Object(record) = record else {
            return Err(ImportError::invalid(
                index,
                None,
                format!("expected an object, got {}", type_name(record)),
            ));
        };
        let label = match record.get("model") {
            Some(Value::String(label)) => label,
            Some(other) => {
                return Err(ImportError::invalid(
                    index,
                    Some("model"),
                    format!("expected a string, got {}", type_name(other)),
                ))
            }
            None => return Err(ImportError::invalid(index, Some("model"), "missing".into())),
        };
        if !label.eq_ignore_ascii_case(model) {
            if !other_models.contains(label) {
                other_models.push(label.clone());
            }
            continue;
        }
        let user = user_from_record(index, record)?;
        if let Some(first) = by_id.insert(user.id, index) {
            return Err(ImportError {
                kind: Kind::Duplicate,
                index: Some(index),
                field: Some("pk"),
                message: format!("id {} already used by record {first}", user.id),
            });
        }
        if let Some(first) = by_username.insert(user.username.clone(), index) {
            return Err(ImportError {
                kind: Kind::Duplicate,
                index: Some(index),
                field: Some("username"),
                message: format!(
                    "username {:?} already used by record {first}",
                    user.username
                ),
            });
        }
        users.push(user);
    }
    if users.is_empty() && !records.is_empty() {
        other_models.truncate(8);
        return Err(ImportError {
            kind: Kind::NoUsers,
            index: None,
            field: None,
            message: format!(
                "no {model:?} records (the dump holds {}); for a custom user model, \
                 pass its label (e.g. \"accounts.user\")",
                other_models.join(", ")
            ),
        });
    }
    Ok(users)
}

fn read_records(json: &str) -> Result<Vec<Value>, ImportError> {
    // `--format jsonl` writes one record per line; `json` one list.
    if json.trim().is_empty() {
        return Err(ImportError::json("empty input".into()));
    }
    if json.trim_start().starts_with('{') {
        return json
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                serde_json::from_str(line)
                    .map_err(|e| ImportError::json(format!("line {}: {e}", n + 1)))
            })
            .collect();
    }
    match serde_json::from_str(json) {
        Ok(Value::Array(records)) => Ok(records),
        Ok(other) => Err(ImportError::json(format!(
            "expected a list of records (dumpdata's JSON), got {}",
            type_name(&other)
        ))),
        Err(e) => Err(ImportError::json(format!("not valid JSON: {e}"))),
    }
}

fn user_from_record(
    index: usize,
    record: &Map<String, Value>,
) -> Result<ImportedUser, ImportError> {
    let id =
        match record.get("pk") {
            Some(pk) => pk.as_u64().ok_or_else(|| {
                ImportError::invalid(
                    index,
                    Some("pk"),
                    format!("expected a non-negative integer id, got {}", type_name(pk)),
                )
            })?,
            None => return Err(ImportError::invalid(
                index,
                Some("pk"),
                "missing (dumped with --natural-primary? dump without it: the ids must be kept)"
                    .into(),
            )),
        };
    let fields = match record.get("fields") {
        Some(Value::Object(fields)) => fields,
        Some(other) => {
            return Err(ImportError::invalid(
                index,
                Some("fields"),
                format!("expected an object, got {}", type_name(other)),
            ))
        }
        None => {
            return Err(ImportError::invalid(
                index,
                Some("fields"),
                "missing".into(),
            ))
        }
    };
    let r = Record { index, fields };
    let username = r.string("username")?;
    if username.is_empty() {
        return Err(ImportError::invalid(
            index,
            Some("username"),
            "must not be empty".into(),
        ));
    }
    Ok(ImportedUser {
        id,
        username,
        email: r.string("email")?,
        password: r.string("password")?,
        first_name: r.string("first_name")?,
        last_name: r.string("last_name")?,
        is_active: r.boolean("is_active")?,
        is_staff: r.boolean("is_staff")?,
        is_superuser: r.boolean("is_superuser")?,
        last_login: r.datetime("last_login", true)?,
        date_joined: r
            .datetime("date_joined", false)?
            .ok_or_else(|| r.err("date_joined", "must not be null".into()))?,
    })
}

struct Record<'a> {
    index: usize,
    fields: &'a Map<String, Value>,
}

impl Record<'_> {
    fn err(&self, field: &'static str, message: String) -> ImportError {
        ImportError::invalid(self.index, Some(field), message)
    }

    fn get(&self, field: &'static str) -> Result<&Value, ImportError> {
        self.fields
            .get(field)
            .ok_or_else(|| self.err(field, "missing".into()))
    }

    /// Type errors name the JSON type only, never the value: the field may be `password`.
    fn string(&self, field: &'static str) -> Result<String, ImportError> {
        match self.get(field)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.err(
                field,
                format!("expected a string, got {}", type_name(other)),
            )),
        }
    }

    fn boolean(&self, field: &'static str) -> Result<bool, ImportError> {
        match self.get(field)? {
            Value::Bool(b) => Ok(*b),
            other => Err(self.err(
                field,
                format!("expected true or false, got {}", type_name(other)),
            )),
        }
    }

    fn datetime(&self, field: &'static str, nullable: bool) -> Result<Option<i64>, ImportError> {
        match self.get(field)? {
            Value::Null if nullable => Ok(None),
            Value::String(s) => parse_datetime(s).map(Some).ok_or_else(|| {
                let shown: String = s.chars().take(40).collect();
                self.err(
                    field,
                    format!("not an ISO 8601 datetime like 2024-05-01T08:30:15.123Z: {shown:?}"),
                )
            }),
            other => Err(self.err(
                field,
                format!("expected a datetime string, got {}", type_name(other)),
            )),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Unix seconds (rounded down) of a datetime as Django serializes it: Python's
/// `isoformat()`, which `DjangoJSONEncoder` cuts to milliseconds and ends with `Z` for UTC:
/// `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM[:SS]]`. The fraction may have 1 to 9 digits, a
/// space may replace the `T` (Django's own `parse_datetime` allows it), and a datetime
/// without an offset is taken as UTC (see the module docs). `None` for anything else,
/// including impossible dates (Feb 30, hour 24, leap seconds, which Python rejects too).
pub fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(13, b':') && at(16, b':')) {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year < 1
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|d| d.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), tz @ ..] => {
            let tz_num = |i: usize| -> Option<i64> {
                let d = tz.get(i..i + 2)?;
                d.iter().try_fold(0i64, |acc, &c| {
                    c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
                })
            };
            let (h, m, sec) = match tz.len() {
                5 if tz[2] == b':' => (tz_num(0)?, tz_num(3)?, 0),
                8 if tz[2] == b':' && tz[5] == b':' => (tz_num(0)?, tz_num(3)?, tz_num(6)?),
                _ => return None,
            };
            if h > 23 || m > 59 || sec > 59 {
                return None;
            }
            let magnitude = h * 3600 + m * 60 + sec;
            if *sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86400 + hour * 3600 + minute * 60 + second - offset)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`), valid for every year Python allows.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: &str = include_str!("../../tests/data/django_dumpdata_users.json");
    const USERS_INDENT2: &str = include_str!("../../tests/data/django_dumpdata_users_indent2.json");
    const USERS_JSONL: &str = include_str!("../../tests/data/django_dumpdata_users.jsonl");
    const ALL: &str = include_str!("../../tests/data/django_dumpdata_all.json");
    const NATURAL: &str = include_str!("../../tests/data/django_dumpdata_natural.json");

    fn user<'a>(users: &'a [ImportedUser], name: &str) -> &'a ImportedUser {
        users.iter().find(|u| u.username == name).expect(name)
    }

    #[test]
    fn reads_djangos_dumpdata() {
        let users = parse_dumpdata(USERS).unwrap();
        let names: Vec<(u64, &str)> = users.iter().map(|u| (u.id, &*u.username)).collect();
        assert_eq!(
            names,
            [
                (1, "admin"),
                (2, "staff"),
                (3, "alice"),
                (4, "inactive"),
                (6, "nopass"),
                (7, "jos\u{e9}.\u{65e5}\u{672c}"),
                (8, "bob"),
                (9, "carol")
            ]
        );
        let admin = user(&users, "admin");
        assert!(admin.is_staff && admin.is_superuser && admin.is_active);
        assert_eq!(admin.email, "admin@example.com");
        assert_eq!((&*admin.first_name, &*admin.last_name), ("Ada", "Admin"));
        assert_eq!(admin.last_login, Some(1_714_552_215)); // 2024-05-01T08:30:15.123Z
        assert_eq!(admin.date_joined, 1_709_294_400); // 2024-03-01T12:00:00Z
        let staff = user(&users, "staff");
        assert!(staff.is_staff && !staff.is_superuser);
        assert_eq!(staff.last_login, Some(1_714_608_000));
        let alice = user(&users, "alice");
        assert!(!alice.is_staff && alice.is_active && alice.last_login.is_none());
        assert_eq!(alice.date_joined, 1_704_067_199); // 2023-12-31T23:59:59.999Z
        assert!(!user(&users, "inactive").is_active);
        let jose = user(&users, "jos\u{e9}.\u{65e5}\u{672c}");
        assert_eq!(jose.last_name, "M\u{fc}ller \u{65e5}\u{672c}");
        assert_eq!(jose.last_login, Some(1_709_247_600)); // 2024-02-29T23:00:00.500Z
    }

    #[test]
    fn imported_passwords_verify() {
        use crate::users::password::{check_password, is_supported, needs_rehash};
        let users = parse_dumpdata(USERS).unwrap();
        for (name, password) in [
            ("admin", "admin-pass"),
            ("staff", "staff-pass"),
            ("alice", "alice-pass"),
            ("inactive", "inactive-pass"),
            (
                "jos\u{e9}.\u{65e5}\u{672c}",
                "p\u{e4}ss w\u{f6}rd \u{1F511}",
            ),
            ("carol", "carol-pass"),
        ] {
            let u = user(&users, name);
            assert!(check_password(password, &u.password), "{name}");
            assert!(!check_password("wrong", &u.password), "{name}");
        }
        assert!(needs_rehash(&user(&users, "carol").password, 1000)); // pbkdf2_sha1
        let nopass = user(&users, "nopass");
        assert!(nopass.password.starts_with('!') && !is_supported(&nopass.password));
        let bob = &user(&users, "bob").password;
        assert!(bob.starts_with("pbkdf2_sha256$1000000$"));
        if !cfg!(debug_assertions) {
            assert!(check_password("bob-default-pass", bob));
        }
    }

    #[test]
    fn all_formats_give_the_same_users() {
        let compact = parse_dumpdata(USERS).unwrap();
        assert_eq!(parse_dumpdata(USERS_INDENT2).unwrap(), compact);
        assert_eq!(parse_dumpdata(USERS_JSONL).unwrap(), compact);
        assert_eq!(parse_dumpdata(ALL).unwrap(), compact); // other models skipped
        let bom = format!("\u{feff}{USERS}");
        assert_eq!(parse_dumpdata(&bom).unwrap(), compact);
        assert_eq!(parse_dumpdata("[]").unwrap(), []);
        // An empty file is more likely a mistake than a jsonl dump of no users.
        assert_eq!(parse_dumpdata(" \n").unwrap_err().code(), "import_json");
    }

    #[test]
    fn natural_primary_keys_are_refused() {
        let e = parse_dumpdata(NATURAL).unwrap_err();
        assert_eq!(
            (e.code(), e.index(), e.field()),
            ("import_invalid", Some(0), Some("pk"))
        );
        assert!(e.to_string().contains("--natural-primary"), "{e}");
    }

    #[test]
    fn custom_user_models() {
        let custom = USERS.replace("\"auth.user\"", "\"accounts.user\"");
        let e = parse_dumpdata(&custom).unwrap_err();
        assert_eq!(e.code(), "import_no_users");
        assert!(e.to_string().contains("accounts.user"), "{e}");
        assert_eq!(
            parse_dumpdata_model(&custom, "accounts.User").unwrap(),
            parse_dumpdata(USERS).unwrap()
        );
        let e = parse_dumpdata(r#"[{"model": "contenttypes.contenttype", "pk": 1, "fields": {}}]"#)
            .unwrap_err();
        assert_eq!(e.code(), "import_no_users");
    }

    fn one(fields: &str) -> String {
        let base = r#""password": "pbkdf2_sha256$1000$s$h", "last_login": null, "is_superuser": false, "username": "u", "first_name": "", "last_name": "", "email": "", "is_staff": false, "is_active": true, "date_joined": "2024-03-01T12:00:00Z""#;
        format!(
            r#"[{{"model": "contenttypes.contenttype", "pk": 1, "fields": {{}}}}, {{"model": "auth.user", "pk": 5, "fields": {{{base}{fields}}}}}]"#
        )
    }

    fn error(json: &str) -> (&'static str, Option<usize>, Option<&'static str>, String) {
        let e = parse_dumpdata(json).unwrap_err();
        (e.code(), e.index(), e.field(), e.to_string())
    }

    #[test]
    fn the_baseline_record_is_valid() {
        let users = parse_dumpdata(&one("")).unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].id, 5);
        // Duplicate JSON keys: last one wins, as in Python's json.
        let users = parse_dumpdata(&one(r#", "username": "v""#)).unwrap();
        assert_eq!(users[0].username, "v");
    }

    #[test]
    fn field_errors_name_the_record_and_field() {
        for (extra, field) in [
            (r#", "username": """#, "username"),
            (r#", "username": 7"#, "username"),
            (r#", "email": null"#, "email"),
            (r#", "password": ["x"]"#, "password"),
            (r#", "is_active": "true""#, "is_active"),
            (r#", "is_staff": 1"#, "is_staff"),
            (r#", "is_superuser": null"#, "is_superuser"),
            (r#", "last_login": "yesterday""#, "last_login"),
            (r#", "last_login": 1700000000"#, "last_login"),
            (r#", "date_joined": null"#, "date_joined"),
            (r#", "date_joined": "2024-02-30T00:00:00Z""#, "date_joined"),
        ] {
            let (code, index, f, msg) = error(&one(extra));
            assert_eq!(
                (code, index, f),
                ("import_invalid", Some(1), Some(field)),
                "{extra}: {msg}"
            );
            assert!(
                msg.starts_with(&format!("record 1, field \"{field}\": ")),
                "{msg}"
            );
        }
        let missing = one("").replace(r#""first_name": "", "#, "");
        assert_eq!(error(&missing).2, Some("first_name"));
        // Password values never appear in messages.
        let (_, _, _, msg) = error(&one(r#", "password": 12345678"#));
        assert!(!msg.contains("12345678"), "{msg}");
    }

    #[test]
    fn record_shape_errors() {
        let user = r#"{"model": "auth.user", "pk": PK, "fields": {}}"#;
        for (pk, _) in [
            ("-1", ()),
            ("1.0", ()),
            ("\"1\"", ()),
            ("null", ()),
            ("18446744073709551616", ()),
        ] {
            let (code, index, field, msg) = error(&format!("[{}]", user.replace("PK", pk)));
            assert_eq!(
                (code, index, field),
                ("import_invalid", Some(0), Some("pk")),
                "{pk}: {msg}"
            );
        }
        assert_eq!(error("[1]").1, Some(0));
        assert_eq!(error(r#"[{"pk": 1}]"#).2, Some("model"));
        assert_eq!(error(r#"[{"model": 1}]"#).2, Some("model"));
        assert_eq!(
            error(r#"[{"model": "auth.user", "pk": 1}]"#).2,
            Some("fields")
        );
        assert_eq!(
            error(r#"[{"model": "auth.user", "pk": 1, "fields": []}]"#).2,
            Some("fields")
        );
        for bad in [
            "",
            "{",
            "[",
            "null",
            "\"x\"",
            "[] []",
            "[1,]",
            "{\n\"model\": 1}",
        ] {
            assert_eq!(error(bad).0, "import_json", "{bad:?}");
        }
        // A lone object reads as one jsonl record.
        assert_eq!(error("{}").1, Some(0));
        let jsonl_error = error("{\"model\": \"auth.user\"}\n{oops}\n");
        assert_eq!(jsonl_error.0, "import_json");
        assert!(jsonl_error.3.contains("line 2"), "{}", jsonl_error.3);
    }

    #[test]
    fn duplicates_are_refused() {
        let users = parse_dumpdata(USERS).unwrap();
        assert!(users.len() > 2);
        let records: Vec<Value> = serde_json::from_str(USERS).unwrap();
        let mut dup_id = records.clone();
        let mut copy = records[0].clone();
        copy["fields"]["username"] = "someone-else".into();
        dup_id.push(copy);
        let (code, index, field, msg) = error(&Value::Array(dup_id).to_string());
        assert_eq!(
            (code, index, field),
            ("import_duplicate", Some(records.len()), Some("pk"))
        );
        assert!(msg.contains("already used by record 0"), "{msg}");

        let mut dup_name = records.clone();
        let mut copy = records[2].clone();
        copy["pk"] = 1000.into();
        dup_name.push(copy);
        let (code, index, field, msg) = error(&Value::Array(dup_name).to_string());
        assert_eq!(
            (code, index, field),
            ("import_duplicate", Some(records.len()), Some("username"))
        );
        assert!(msg.contains("already used by record 2"), "{msg}");

        // Usernames differing only in case are different users in Django too.
        let mut case = records;
        let mut copy = case[2].clone();
        copy["pk"] = 1000.into();
        copy["fields"]["username"] = "Alice".into();
        case.push(copy);
        assert!(parse_dumpdata(&Value::Array(case).to_string()).is_ok());
    }

    #[test]
    fn codes_are_listed() {
        for (json, code) in [("x", "import_json"), ("[1]", "import_invalid")] {
            let e = parse_dumpdata(json).unwrap_err();
            assert_eq!(e.code(), code);
            assert!(ImportError::ALL_CODES.contains(&e.code()));
        }
    }

    #[test]
    fn debug_hides_the_password_hash() {
        let users = parse_dumpdata(USERS).unwrap();
        let shown = format!("{:?}", users[0]);
        assert!(
            shown.contains("admin") && !shown.contains("pbkdf2"),
            "{shown}"
        );
    }

    #[test]
    fn datetimes() {
        let cases: [(&str, Option<i64>); 30] = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("1970-01-01T00:00:00", Some(0)),
            ("1970-01-01 00:00:00z", Some(0)),
            ("1970-01-01t00:00:00.999999999Z", Some(0)),
            ("1969-12-31T23:59:59.5Z", Some(-1)),
            ("2024-05-01T08:30:15.123Z", Some(1_714_552_215)),
            ("2024-05-01T08:30:15.123456+00:00", Some(1_714_552_215)),
            ("2024-05-01T10:30:15+02:00", Some(1_714_552_215)),
            ("2024-05-01T03:00:15-05:30", Some(1_714_552_215)),
            ("2024-05-01T08:30:20+00:00:05", Some(1_714_552_215)),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800)),
            ("2000-02-29T00:00:00Z", Some(951_782_400)),
            ("0001-01-01T00:00:00Z", Some(-62_135_596_800)),
            ("9999-12-31T23:59:59.999Z", Some(253_402_300_799)),
            ("2038-01-19T03:14:08Z", Some(2_147_483_648)),
            ("2023-02-29T00:00:00Z", None),
            ("1900-02-29T00:00:00Z", None),
            ("2024-04-31T00:00:00Z", None),
            ("2024-13-01T00:00:00Z", None),
            ("2024-00-01T00:00:00Z", None),
            ("0000-01-01T00:00:00Z", None),
            ("2024-01-01T24:00:00Z", None),
            ("2024-01-01T23:60:00Z", None),
            ("2024-01-01T23:59:60Z", None),
            ("2024-01-01T00:00Z", None),
            ("2024-01-01T00:00:00.Z", None),
            ("2024-01-01T00:00:00.1234567890Z", None),
            ("2024-01-01T00:00:00+24:00", None),
            ("2024-01-01T00:00:00+0100", None),
            ("+2024-01-01T00:00:00Z", None),
        ];
        for (s, expected) in cases {
            assert_eq!(parse_datetime(s), expected, "{s}");
        }
        for s in [
            "",
            "2024",
            "2024-01-01",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01T00:00:00 ",
            "２０２４-01-01T00:00:00Z",
            "2024-01-01T00:00:00+01",
            "2024-01-01T00:00:00+01:00:",
            "2024-01-01T00:0a:00Z",
            "2024-01-01T00:00:00\u{e9}",
        ] {
            assert_eq!(parse_datetime(s), None, "{s:?}");
        }
    }

    #[test]
    fn datetime_matches_a_day_by_day_walk() {
        // Every day from 1600 to 2400 against a running counter.
        let mut expected = days_from_civil(1600, 1, 1);
        for year in 1600..2400 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(
                        days_from_civil(year, month, day),
                        expected,
                        "{year}-{month}-{day}"
                    );
                    expected += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }
}
