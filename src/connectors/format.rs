//! Renders records as text the way Flink's `toString` renders them, so `print` and
//! `write_as_text` output looks like what users' scripts expect: tuples as `(hello,1)`, strings
//! bare, lists as `[a, b]`, maps as `{k=v}`, `None` as `null`, structs as `Name{field=value}`.
//! CSV rows are a record's top-level fields joined by `,` (Flink's `writeAsCsv`).
//!
//! Implemented as a serde `Serializer`, so any record type (all are `Serialize`) can be printed.

use serde::ser::{self, Serialize};
use std::fmt::Write as _;

/// A record as Flink's `toString` would print it.
pub fn to_flink_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = String::new();
    write_flink_string(value, &mut out);
    out
}

/// Appends a record's text form to `out`.
pub fn write_flink_string<T: Serialize + ?Sized>(value: &T, out: &mut String) {
    let mut s = TextSerializer {
        out,
        csv_depth: None,
    };
    // Serializing into a String cannot fail; a custom Serialize impl that errors prints as-is.
    if let Err(e) = value.serialize(&mut s) {
        let _ = write!(s.out, "<unprintable: {e}>");
    }
}

/// Appends a record as one CSV row (without the line delimiter).
pub fn write_csv_row<T: Serialize + ?Sized>(value: &T, out: &mut String) {
    let mut s = TextSerializer {
        out,
        csv_depth: Some(0),
    };
    if let Err(e) = value.serialize(&mut s) {
        let _ = write!(s.out, "<unprintable: {e}>");
    }
}

#[derive(Debug)]
pub struct FormatError(String);
impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for FormatError {}
impl ser::Error for FormatError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        FormatError(msg.to_string())
    }
}

struct TextSerializer<'a> {
    out: &'a mut String,
    /// `Some(depth)` in CSV mode: the top-level compound's fields are joined by `,` bare.
    csv_depth: Option<usize>,
}

impl TextSerializer<'_> {
    fn is_csv_top(&self) -> bool {
        self.csv_depth == Some(0)
    }
}

/// A compound value being written: separator and closing text.
pub struct Compound<'a, 'b> {
    ser: &'b mut TextSerializer<'a>,
    first: bool,
    separator: &'static str,
    close: &'static str,
}

impl Compound<'_, '_> {
    fn element<T: Serialize + ?Sized>(
        &mut self,
        key: Option<&str>,
        value: &T,
    ) -> Result<(), FormatError> {
        if !self.first {
            self.ser.out.push_str(self.separator);
        }
        self.first = false;
        if let Some(k) = key {
            self.ser.out.push_str(k);
            self.ser.out.push('=');
        }
        let depth = self.ser.csv_depth;
        self.ser.csv_depth = depth.map(|d| d + 1);
        let r = value.serialize(&mut *self.ser);
        self.ser.csv_depth = depth;
        r
    }
    fn finish(self) -> Result<(), FormatError> {
        self.ser.out.push_str(self.close);
        Ok(())
    }
}

impl<'a, 'b> TextSerializer<'a> {
    fn open(
        &'b mut self,
        name: &str,
        open: &str,
        sep: &'static str,
        close: &'static str,
    ) -> Compound<'a, 'b> {
        if self.is_csv_top() {
            return Compound {
                ser: self,
                first: true,
                separator: ",",
                close: "",
            };
        }
        self.out.push_str(name);
        self.out.push_str(open);
        Compound {
            ser: self,
            first: true,
            separator: sep,
            close,
        }
    }
}

macro_rules! display {
    ($($f:ident: $t:ty),*) => {$(
        fn $f(self, v: $t) -> Result<(), FormatError> {
            let _ = write!(self.out, "{v}");
            Ok(())
        }
    )*};
}

impl<'a, 'b> ser::Serializer for &'b mut TextSerializer<'a> {
    type Ok = ();
    type Error = FormatError;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    display!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_char: char, serialize_str: &str);

    fn serialize_f32(self, v: f32) -> Result<(), FormatError> {
        self.serialize_f64(v as f64)
    }
    fn serialize_f64(self, v: f64) -> Result<(), FormatError> {
        // Java prints whole doubles with ".0".
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e7 {
            let _ = write!(self.out, "{v:.1}");
        } else {
            let _ = write!(self.out, "{v}");
        }
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), FormatError> {
        let _ = write!(self.out, "{v:?}");
        Ok(())
    }
    fn serialize_none(self) -> Result<(), FormatError> {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), FormatError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), FormatError> {
        self.out.push_str("()");
        Ok(())
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<(), FormatError> {
        self.out.push_str(name);
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), FormatError> {
        self.out.push_str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), FormatError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), FormatError> {
        let mut c = self.open(variant, "(", ",", ")");
        c.element(None, v)?;
        c.finish()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a, 'b>, FormatError> {
        Ok(self.open("", "[", ", ", "]"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a, 'b>, FormatError> {
        Ok(self.open("", "(", ",", ")"))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'b>, FormatError> {
        Ok(self.open(name, "(", ",", ")"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'b>, FormatError> {
        Ok(self.open(variant, "(", ",", ")"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a, 'b>, FormatError> {
        Ok(self.open("", "{", ", ", "}"))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'b>, FormatError> {
        Ok(self.open(name, "{", ", ", "}"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'b>, FormatError> {
        Ok(self.open(variant, "{", ", ", "}"))
    }
}

macro_rules! compound {
    ($($tr:ident :: $m:ident),*) => {$(
        impl ser::$tr for Compound<'_, '_> {
            type Ok = ();
            type Error = FormatError;
            fn $m<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), FormatError> {
                self.element(None, v)
            }
            fn end(self) -> Result<(), FormatError> {
                self.finish()
            }
        }
    )*};
}
compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! named_compound {
    ($($tr:ident),*) => {$(
        impl ser::$tr for Compound<'_, '_> {
            type Ok = ();
            type Error = FormatError;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), FormatError> {
                let key = if self.ser.is_csv_top() { None } else { Some(key) };
                self.element(key, v)
            }
            fn end(self) -> Result<(), FormatError> {
                self.finish()
            }
        }
    )*};
}
named_compound!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = FormatError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), FormatError> {
        self.element(None, key)?;
        self.ser.out.push('=');
        self.first = true;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), FormatError> {
        self.element(None, v)?;
        self.first = false;
        Ok(())
    }
    fn end(self) -> Result<(), FormatError> {
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    struct Reading {
        sensor: String,
        value: f64,
    }

    #[test]
    fn records_print_like_flinks_to_string() {
        assert_eq!(to_flink_string(&("hello".to_string(), 1i64)), "(hello,1)");
        assert_eq!(
            to_flink_string(&("a", (1, 2.5f64), Some(3), None::<i32>)),
            "(a,(1,2.5),3,null)"
        );
        assert_eq!(to_flink_string(&vec![1, 2, 3]), "[1, 2, 3]");
        assert_eq!(
            to_flink_string(&BTreeMap::from([("a", 1), ("b", 2)])),
            "{a=1, b=2}"
        );
        assert_eq!(
            to_flink_string(&Reading {
                sensor: "s1".into(),
                value: 3.0
            }),
            "Reading{sensor=s1, value=3.0}"
        );
        assert_eq!(to_flink_string("plain text"), "plain text");
        assert_eq!(to_flink_string(&42u8), "42");
    }

    #[test]
    fn csv_rows_join_top_level_fields_with_commas() {
        let mut row = String::new();
        write_csv_row(&("hello".to_string(), 5i64, (1, 2)), &mut row);
        assert_eq!(row, "hello,5,(1,2)");
        let mut row = String::new();
        write_csv_row(
            &Reading {
                sensor: "s1".into(),
                value: 0.5,
            },
            &mut row,
        );
        assert_eq!(row, "s1,0.5");
        let mut row = String::new();
        write_csv_row(&7i32, &mut row);
        assert_eq!(row, "7");
    }
}
