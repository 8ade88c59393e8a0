//! What a request will cost in tokens, before it goes out: text as text (a
//! quarter of its characters), and media — images, audio, video, PDFs — the
//! way the provider documents counting them, read from the bytes where that
//! is cheap (an image's size from its header, a WAV's or MP4's duration, a
//! PDF's pages). Base64 is never counted as text. The answer's own token
//! count replaces the estimate afterwards.
//!
//! The body is read as it is parsed, building no tree: only the fields that
//! can carry media are kept, so memory stays flat whatever the body's size.
//!
//! Sources (each rule below names its own):
//! - Gemini: <https://ai.google.dev/gemini-api/docs/tokens>,
//!   `…/image-understanding`, `…/audio`, `…/video-understanding`,
//!   `…/document-processing`.
//! - OpenAI: <https://platform.openai.com/docs/guides/images-vision>
//!   ("Calculating costs"), `…/guides/realtime-costs`, `…/guides/pdf-files`.
//! - Anthropic: <https://docs.anthropic.com/en/docs/build-with-claude/vision>,
//!   `…/pdf-support`.

use base64::Engine;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;

/// Whose rules count media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accounting {
    /// Google's Gemini API (also through its OpenAI-compatible routes).
    Gemini,
    /// OpenAI, and the OpenAI-compatible APIs that document nothing else.
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
}

/// The estimated tokens of a request body (1 for none; a body that is not
/// JSON counts a quarter of its bytes).
pub fn estimate(body: Option<&[u8]>, accounting: Accounting) -> u64 {
    let Some(body) = body else { return 1 };
    let mut de = serde_json::Deserializer::from_slice(body);
    let cost = Walk {
        accounting,
        hint: "",
    }
    .deserialize(&mut de)
    .unwrap_or(Cost {
        chars: body.len(),
        media: 0,
    });
    ((cost.chars as u64).div_ceil(4) + cost.media).max(1)
}

/// The tokens of a body's media alone (its images, audio, video and PDFs).
pub fn media_tokens(body: &[u8], accounting: Accounting) -> u64 {
    let mut de = serde_json::Deserializer::from_slice(body);
    Walk {
        accounting,
        hint: "",
    }
    .deserialize(&mut de)
    .map_or(0, |cost| cost.media)
}

/// What part of a body costs: characters of text, and media tokens.
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    chars: usize,
    media: u64,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.chars = self.chars.saturating_add(other.chars);
        self.media = self.media.saturating_add(other.media);
    }
}

#[derive(Clone, Copy)]
struct Walk {
    accounting: Accounting,
    /// The media type an object's link or file reference is taken to be
    /// when it names none, from the field that holds the object
    /// (`image_url`, `input_audio`, `file`).
    hint: &'static str,
}

impl Walk {
    /// The walk of the value of field `key`.
    fn into_field(self, key: &str) -> Walk {
        let hint = match key {
            "image_url" | "image" => "image/*",
            "input_audio" | "audio" => "audio/*",
            "file" | "document" => "application/pdf",
            _ => "",
        };
        Walk { hint, ..self }
    }
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = Cost;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Cost, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = Cost;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_str<E>(self, v: &str) -> Result<Cost, E> {
        Ok(text(v))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Cost, E> {
        Ok(Cost::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Cost, E> {
        Ok(Cost::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Cost, E> {
        Ok(Cost::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Cost, E> {
        Ok(Cost::default())
    }

    fn visit_unit<E>(self) -> Result<Cost, E> {
        Ok(Cost::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cost, A::Error> {
        let mut total = Cost::default();
        while let Some(cost) = seq.next_element_seed(self)? {
            total.add(cost);
        }
        Ok(total)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cost, A::Error> {
        let mut total = Cost::default();
        let mut part = Part::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let walk = self.into_field(&key);
            match Field::of(&key) {
                Some(field) => {
                    let value = map.next_value_seed(Kept(walk))?;
                    match value {
                        Value::Str(s) => part.set(field, s),
                        Value::Other(cost) => total.add(cost),
                    }
                }
                None => total.add(map.next_value_seed(walk)?),
            }
        }
        total.add(part.cost(self.accounting, self.hint));
        Ok(total)
    }
}

fn text(v: &str) -> Cost {
    Cost {
        chars: v.chars().count(),
        media: 0,
    }
}

/// The fields of an object that can make it a media part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// `data`: base64 (Gemini `inlineData`, Anthropic `source`, OpenAI `input_audio`).
    Data,
    /// `mimeType`, `mime_type`, `media_type`.
    Mime,
    /// `format` (OpenAI `input_audio`: `wav`, `mp3`).
    Format,
    /// `url`, `image_url`, `file_data`: a data URL, or a link.
    Url,
    /// `fileUri`, `file_uri`, `file_id`, `file_url`: a file held elsewhere.
    FileRef,
    /// `detail` (OpenAI: `low`, `high`, `auto`).
    Detail,
    /// `type` (`image_url`, `input_image`, `image`, `document`, `file` …).
    Type,
}

impl Field {
    fn of(key: &str) -> Option<Field> {
        Some(match key {
            "data" => Field::Data,
            "mimeType" | "mime_type" | "media_type" => Field::Mime,
            "format" => Field::Format,
            "url" | "image_url" | "file_data" => Field::Url,
            "fileUri" | "file_uri" | "file_id" | "file_url" => Field::FileRef,
            "detail" => Field::Detail,
            "type" => Field::Type,
            _ => return None,
        })
    }
}

/// A value kept whole when it is a string (a media field's), else walked.
struct Kept(Walk);

enum Value<'de> {
    Str(Cow<'de, str>),
    Other(Cost),
}

impl<'de> DeserializeSeed<'de> for Kept {
    type Value = Value<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Kept {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value<'de>, E> {
        Ok(Value::Other(Cost::default()))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Value<'de>, E> {
        Ok(Value::Other(Cost::default()))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Value<'de>, E> {
        Ok(Value::Other(Cost::default()))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value<'de>, E> {
        Ok(Value::Other(Cost::default()))
    }

    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Other(Cost::default()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value<'de>, A::Error> {
        self.0.visit_seq(seq).map(Value::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value<'de>, A::Error> {
        self.0.visit_map(map).map(Value::Other)
    }
}

/// The media fields one object had.
#[derive(Default)]
struct Part<'de> {
    data: Option<Cow<'de, str>>,
    mime: Option<Cow<'de, str>>,
    format: Option<Cow<'de, str>>,
    url: Option<Cow<'de, str>>,
    file_ref: Option<Cow<'de, str>>,
    detail: Option<Cow<'de, str>>,
    kind: Option<Cow<'de, str>>,
}

impl<'de> Part<'de> {
    fn set(&mut self, field: Field, value: Cow<'de, str>) {
        let slot = match field {
            Field::Data => &mut self.data,
            Field::Mime => &mut self.mime,
            Field::Format => &mut self.format,
            Field::Url => &mut self.url,
            Field::FileRef => &mut self.file_ref,
            Field::Detail => &mut self.detail,
            Field::Type => &mut self.kind,
        };
        *slot = Some(value);
    }

    /// What the object costs: media where it is a media part, and the
    /// characters of its other strings as text.
    /// `hint`: the media type the object's field implies (see [`Walk`]).
    fn cost(self, accounting: Accounting, hint: &str) -> Cost {
        let detail = Detail::of(self.detail.as_deref());
        let kind = self.kind.as_deref().unwrap_or("");
        // What a link or file reference is, where nothing here says: the
        // field's word, else the part's type, else an image for a link and
        // a PDF for a file (what such parts carry most).
        let implied = |fallback: &'static str| -> String {
            let named = self.mime.as_deref().unwrap_or("");
            [named, kind_mime(kind), hint, fallback]
                .into_iter()
                .find(|m| !m.is_empty())
                .unwrap_or(fallback)
                .to_string()
        };
        let mut cost = Cost::default();
        let media = |tokens: u64, cost: &mut Cost| cost.media = cost.media.saturating_add(tokens);
        // Strings that aren't media count as text.
        for s in [&self.mime, &self.format, &self.detail, &self.kind]
            .into_iter()
            .flatten()
        {
            cost.add(text(s));
        }
        if let Some(data) = &self.data {
            let mime = match (&self.mime, &self.format) {
                (Some(mime), _) => mime.to_string(),
                // OpenAI's input_audio names a format, not a type.
                (None, Some(format)) => format!("audio/{format}"),
                // A `data` string that names no type of media is text.
                (None, None) => {
                    cost.add(text(data));
                    String::new()
                }
            };
            if !mime.is_empty() {
                media(inline(&mime, data, detail, accounting), &mut cost);
            }
        }
        if let Some(url) = &self.url {
            match data_url(url) {
                Some((mime, payload)) => {
                    media(inline(mime, payload, detail, accounting), &mut cost)
                }
                None if is_link(url) => media(
                    referenced(&implied("image/*"), detail, accounting),
                    &mut cost,
                ),
                None => cost.add(text(url)),
            }
        }
        if self.file_ref.is_some() {
            media(
                referenced(&implied("application/pdf"), detail, accounting),
                &mut cost,
            );
        }
        cost
    }
}

/// A media type guessed from a part's `type`, where it names none itself.
fn kind_mime(kind: &str) -> &'static str {
    match kind {
        "image_url" | "input_image" | "image" => "image/*",
        "document" | "file" | "input_file" => "application/pdf",
        "input_audio" | "audio" => "audio/*",
        _ => "",
    }
}

fn is_link(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://") || s.starts_with("gs://")
}

/// `data:<mime>;base64,<payload>` → (mime, payload).
fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (head, payload) = rest.split_once(',')?;
    let mime = head.strip_suffix(";base64")?;
    let mime = mime.split(';').next().unwrap_or(mime);
    Some((mime, payload))
}

/// OpenAI's `detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    Low,
    /// `high`, or `auto` (which may choose high: counted as high).
    High,
}

impl Detail {
    fn of(detail: Option<&str>) -> Detail {
        match detail {
            Some("low") => Detail::Low,
            _ => Detail::High,
        }
    }
}

/// What one kind of media was found to be.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Media {
    /// Width and height in pixels (`None`: unreadable).
    Image(Option<(u32, u32)>),
    /// Seconds (`None`: unreadable).
    Audio(Option<f64>),
    /// Seconds (`None`: unreadable).
    Video(Option<f64>),
    /// Pages (`None`: unreadable).
    Pdf(Option<u32>),
    /// A type no rule covers.
    Other,
}

/// The tokens of media sent inline (base64).
fn inline(mime: &str, base64: &str, detail: Detail, accounting: Accounting) -> u64 {
    let bytes = Decoded::new(base64);
    let media = match family(mime) {
        Family::Image => Media::Image(image_size(&bytes.head(IMAGE_HEAD)).or_else(|| {
            // A JPEG's size may sit behind a large EXIF block.
            image_size(&bytes.all())
        })),
        Family::Audio => Media::Audio(audio_seconds(&bytes.all(), mime)),
        Family::Video => Media::Video(video_seconds(&bytes.all(), mime)),
        Family::Pdf => Media::Pdf(pdf_pages(&bytes.all())),
        Family::Other => Media::Other,
    };
    tokens(media, bytes.len(), detail, accounting)
}

/// The tokens of media the request only points at (a file uploaded before,
/// a link): its bytes aren't here, so the documented size of a typical one.
fn referenced(mime: &str, detail: Detail, accounting: Accounting) -> u64 {
    let media = match family(mime) {
        Family::Image => Media::Image(None),
        Family::Audio => Media::Audio(None),
        Family::Video => Media::Video(None),
        Family::Pdf => Media::Pdf(None),
        Family::Other => Media::Other,
    };
    tokens(media, 0, detail, accounting)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Image,
    Audio,
    Video,
    Pdf,
    Other,
}

fn family(mime: &str) -> Family {
    let mime = mime.trim().to_ascii_lowercase();
    if mime.starts_with("image/") {
        Family::Image
    } else if mime.starts_with("audio/") {
        Family::Audio
    } else if mime.starts_with("video/") {
        Family::Video
    } else if mime == "application/pdf" {
        Family::Pdf
    } else {
        Family::Other
    }
}

/// Assumed where a file isn't here or its header can't be read: a
/// 1024 x 1024 image, one minute of audio or video, ten PDF pages. The
/// answer's own count corrects the record afterwards.
const TYPICAL_IMAGE: (u32, u32) = (1024, 1024);
const TYPICAL_SECONDS: f64 = 60.0;
const TYPICAL_PAGES: u32 = 10;
/// Where a duration can't be read from the bytes: their length at this
/// bit rate (a typical compressed audio stream; video at 1 Mbit/s).
const AUDIO_BITS_PER_SECOND: f64 = 128_000.0;
const VIDEO_BITS_PER_SECOND: f64 = 1_000_000.0;
/// Where a PDF's pages can't be counted: one per this many bytes.
const PDF_BYTES_PER_PAGE: usize = 100_000;

/// The documented tokens of one piece of media; `len` is its size in bytes
/// (0: not here).
fn tokens(media: Media, len: usize, detail: Detail, accounting: Accounting) -> u64 {
    let seconds_from_size = |bits_per_second: f64| {
        if len == 0 {
            TYPICAL_SECONDS
        } else {
            (len as f64 * 8.0 / bits_per_second).max(1.0)
        }
    };
    match media {
        Media::Image(size) => {
            let (w, h) = size.unwrap_or(TYPICAL_IMAGE);
            image_tokens(w, h, detail, accounting)
        }
        Media::Audio(seconds) => {
            let seconds = seconds.unwrap_or_else(|| seconds_from_size(AUDIO_BITS_PER_SECOND));
            let per_second = match accounting {
                // "each second of audio as 32 tokens" (Gemini audio docs).
                Accounting::Gemini => 32.0,
                // "1 token per 100 ms of audio" in user messages (OpenAI
                // realtime costs); Anthropic takes no audio: the same guess.
                Accounting::OpenAi | Accounting::Anthropic => 10.0,
            };
            (seconds * per_second).ceil() as u64
        }
        Media::Video(seconds) => {
            let seconds = seconds.unwrap_or_else(|| seconds_from_size(VIDEO_BITS_PER_SECOND));
            // "Approximately 300 tokens per second of video at default media
            // resolution" (Gemini video docs: 258 a frame at 1 fps, 32 of
            // audio, metadata). Others count frames as images: the same guess.
            (seconds * 300.0).ceil() as u64
        }
        Media::Pdf(pages) => {
            let pages = pages.unwrap_or(if len == 0 {
                TYPICAL_PAGES
            } else {
                len.div_ceil(PDF_BYTES_PER_PAGE).max(1) as u32
            });
            let per_page = match accounting {
                // "Each document page is equivalent to 258 tokens."
                Accounting::Gemini => 258,
                // Text plus an image of each page; an image of a page at high
                // detail is 765 (1024 x 1024 -> 4 tiles): with its text, ~1,000.
                Accounting::OpenAi => 1_000,
                // "1,500-3,000 tokens per page" of text, plus the page as an
                // image (up to ~1,600): the top of the text range.
                Accounting::Anthropic => 3_000,
            };
            u64::from(pages) * per_page
        }
        // A type no rule covers: its base64 as if it were text would be the
        // old overcount; a quarter of its bytes is the same guess as text's.
        Media::Other => (len as u64).div_ceil(4).max(1),
    }
}

/// The tokens of a `w` x `h` image.
fn image_tokens(w: u32, h: u32, detail: Detail, accounting: Accounting) -> u64 {
    let (w, h) = (u64::from(w.max(1)), u64::from(h.max(1)));
    match accounting {
        // "image inputs with both dimensions <=384 pixels are counted as 258
        // tokens. Images larger in one or both dimensions are cropped and
        // scaled as needed into tiles of 768x768 pixels, each counted as 258
        // tokens"; tiles: "crop unit size … floor(min(width, height) / 1.5).
        // Divide each dimension by the crop unit size and multiply together".
        Accounting::Gemini => {
            if w <= 384 && h <= 384 {
                return 258;
            }
            let unit = (w.min(h) * 2 / 3).max(1);
            258 * w.div_ceil(unit) * h.div_ceil(unit)
        }
        // detail low: 85. High: "Scale to fit in a 2048px x 2048px square",
        // "Scale so that the image's shortest side is 768px long", then 170
        // a 512px square, plus 85.
        Accounting::OpenAi => {
            if detail == Detail::Low {
                return 85;
            }
            let (mut w, mut h) = (w as f64, h as f64);
            let fit = (2048.0 / w.max(h)).min(1.0);
            (w, h) = (w * fit, h * fit);
            let short = (768.0 / w.min(h)).min(1.0);
            (w, h) = (w * short, h * short);
            let tiles = (w / 512.0).ceil() as u64 * (h / 512.0).ceil() as u64;
            85 + 170 * tiles
        }
        // "tokens = (width px * height px)/750", after an image whose long
        // edge is over 1568 px is scaled down to it; about 1,600 at most.
        Accounting::Anthropic => {
            let (mut w, mut h) = (w as f64, h as f64);
            let fit = (1568.0 / w.max(h)).min(1.0);
            (w, h) = (w * fit, h * fit);
            ((w * h / 750.0).ceil() as u64).min(1_600)
        }
    }
}

/// Bytes enough for any image header but a JPEG's behind a large EXIF block.
const IMAGE_HEAD: usize = 64 * 1024;

/// Base64 decoded on demand: a prefix for headers, all of it when needed.
struct Decoded<'a> {
    text: &'a str,
}

impl<'a> Decoded<'a> {
    fn new(text: &'a str) -> Decoded<'a> {
        Decoded { text: text.trim() }
    }

    /// The decoded length (from the text's length; padding aside).
    fn len(&self) -> usize {
        self.text.len() / 4 * 3
    }

    /// The first `n` bytes or so.
    fn head(&self, n: usize) -> Vec<u8> {
        let chars = (n.div_ceil(3) * 4).min(self.text.len() / 4 * 4);
        decode(&self.text[..chars])
    }

    fn all(&self) -> Vec<u8> {
        decode(self.text)
    }
}

/// Standard or URL-safe base64, padded or not, with any whitespace; what
/// can't be decoded is empty.
fn decode(text: &str) -> Vec<u8> {
    use base64::engine::DecodePaddingMode;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let text: Cow<'_, str> = if text.bytes().any(|b| b.is_ascii_whitespace()) {
        Cow::Owned(text.chars().filter(|c| !c.is_ascii_whitespace()).collect())
    } else {
        Cow::Borrowed(text)
    };
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    standard
        .decode(text.as_bytes())
        .or_else(|_| url_safe.decode(text.as_bytes()))
        .unwrap_or_default()
}

/// Width and height from a PNG, GIF, JPEG or WebP header.
fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| {
        Some(u32::from(u16::from_be_bytes(
            b.get(i..i + 2)?.try_into().ok()?,
        )))
    };
    let le16 = |i: usize| {
        Some(u32::from(u16::from_le_bytes(
            b.get(i..i + 2)?.try_into().ok()?,
        )))
    };
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le24 = |i: usize| {
        let s = b.get(i..i + 3)?;
        Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return match b.get(12..16)? {
            b"VP8 " => Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff)),
            b"VP8L" => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
            }
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            _ => None,
        };
    }
    if b.starts_with(&[0xff, 0xd8]) {
        // Walk the markers to a start-of-frame (SOF0-SOF15 but DHT, JPG, DAC).
        let mut i = 2;
        while i + 4 <= b.len() {
            if b[i] != 0xff {
                return None;
            }
            let marker = b[i + 1];
            if marker == 0xff {
                i += 1;
                continue;
            }
            if matches!(marker, 0xd0..=0xd9 | 0x01) {
                i += 2;
                continue;
            }
            let len = be16(i + 2)? as usize;
            if (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
                return Some((be16(i + 7)?, be16(i + 5)?));
            }
            i += 2 + len;
        }
    }
    None
}

/// Seconds of audio: WAV from its header, FLAC from STREAMINFO, MP3 from
/// its first frame's bit rate (constant-rate streams); else `None`.
fn audio_seconds(b: &[u8], mime: &str) -> Option<f64> {
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WAVE") {
        return wav_seconds(b);
    }
    if b.starts_with(b"fLaC") {
        // STREAMINFO: sample rate (20 bits) and total samples (36 bits).
        let s = b.get(18..26)?;
        let rate = u32::from(s[0]) << 12 | u32::from(s[1]) << 4 | u32::from(s[2]) >> 4;
        let total =
            u64::from(s[3] & 0x0f) << 32 | u64::from(u32::from_be_bytes(s[4..8].try_into().ok()?));
        return (rate > 0 && total > 0).then(|| total as f64 / f64::from(rate));
    }
    if mime.contains("mp3")
        || mime.contains("mpeg")
        || b.starts_with(b"ID3")
        || b.starts_with(&[0xff])
    {
        return mp3_seconds(b);
    }
    None
}

fn wav_seconds(b: &[u8]) -> Option<f64> {
    let mut i = 12;
    let mut byte_rate = None;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let size = u32::from_le_bytes(b[i + 4..i + 8].try_into().ok()?) as usize;
        if id == b"fmt " {
            byte_rate = Some(u32::from_le_bytes(b.get(i + 16..i + 20)?.try_into().ok()?));
        } else if id == b"data" {
            // A streamed WAV may say 0 or 0xFFFFFFFF: take what is here.
            let size = if size == 0 || size == u32::MAX as usize {
                b.len() - i - 8
            } else {
                size.min(b.len() - i - 8)
            };
            let rate = byte_rate.filter(|r| *r > 0)?;
            return Some(size as f64 / f64::from(rate));
        }
        i += 8 + size + (size & 1);
    }
    None
}

fn mp3_seconds(b: &[u8]) -> Option<f64> {
    let mut i = 0;
    if b.starts_with(b"ID3") && b.len() >= 10 {
        let s = &b[6..10];
        let tag = (u32::from(s[0]) << 21
            | u32::from(s[1]) << 14
            | u32::from(s[2]) << 7
            | u32::from(s[3])) as usize;
        i = 10 + tag;
    }
    while i + 4 <= b.len() {
        if b[i] == 0xff && b[i + 1] & 0xe0 == 0xe0 {
            let version = (b[i + 1] >> 3) & 3; // 3: MPEG-1
            let layer = (b[i + 1] >> 1) & 3; // 1: layer III
            let index = usize::from(b[i + 2] >> 4);
            const V1_L3: [u32; 16] = [
                0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0,
            ];
            const V2_L3: [u32; 16] = [
                0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0,
            ];
            let kbps = match (version, layer) {
                (3, 1) => V1_L3[index],
                (0 | 2, 1) => V2_L3[index],
                _ => 0,
            };
            if kbps > 0 {
                return Some((b.len() - i) as f64 * 8.0 / (f64::from(kbps) * 1000.0));
            }
        }
        i += 1;
    }
    None
}

/// Seconds of an MP4 / QuickTime video from its `mvhd` box; else `None`.
fn video_seconds(b: &[u8], _mime: &str) -> Option<f64> {
    let moov = find_box(b, b"moov")?;
    let mvhd = find_box(moov, b"mvhd")?;
    let version = *mvhd.first()?;
    let (scale, duration) = if version == 1 {
        (
            u32::from_be_bytes(mvhd.get(20..24)?.try_into().ok()?),
            u64::from_be_bytes(mvhd.get(24..32)?.try_into().ok()?),
        )
    } else {
        (
            u32::from_be_bytes(mvhd.get(12..16)?.try_into().ok()?),
            u64::from(u32::from_be_bytes(mvhd.get(16..20)?.try_into().ok()?)),
        )
    };
    (scale > 0).then(|| duration as f64 / f64::from(scale))
}

/// The body of the first box named `name` at this level of an ISO media file.
fn find_box<'b>(mut b: &'b [u8], name: &[u8; 4]) -> Option<&'b [u8]> {
    while b.len() >= 8 {
        let size = u32::from_be_bytes(b[0..4].try_into().ok()?) as usize;
        let (header, size) = match size {
            1 => (
                16,
                u64::from_be_bytes(b.get(8..16)?.try_into().ok()?) as usize,
            ),
            0 => (8, b.len()),
            n => (8, n),
        };
        if size < header || size > b.len() {
            return None;
        }
        if &b[4..8] == name {
            return Some(&b[header..size]);
        }
        b = &b[size..];
    }
    None
}

/// Pages of a PDF: its `/Type /Page` objects, else the largest `/Count` of
/// a page tree (object streams hide the pages themselves); else `None`.
fn pdf_pages(b: &[u8]) -> Option<u32> {
    if !b.starts_with(b"%PDF") {
        return None;
    }
    let mut pages = 0u32;
    let mut count = 0u32;
    let mut i = 0;
    while let Some(at) = find(&b[i..], b"/Type") {
        let mut j = i + at + 5;
        while b.get(j).is_some_and(|c| c.is_ascii_whitespace()) {
            j += 1;
        }
        if b[j..].starts_with(b"/Page") && !b[j..].starts_with(b"/Pages") {
            pages += 1;
        }
        i = j;
    }
    let mut i = 0;
    while let Some(at) = find(&b[i..], b"/Count") {
        let j = i + at + 6;
        let digits: String = b[j..]
            .iter()
            .skip_while(|c| c.is_ascii_whitespace())
            .take_while(|c| c.is_ascii_digit())
            .map(|&c| c as char)
            .collect();
        count = count.max(digits.parse().unwrap_or(0));
        i = j;
    }
    let n = pages.max(count);
    (n > 0).then_some(n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    /// A PNG header of this size, then `pad` bytes of made-up data.
    fn png(w: u32, h: u32, pad: usize) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 2, 0, 0, 0]);
        b.resize(b.len() + pad, 0x5a);
        b
    }

    /// A baseline JPEG of this size behind an APP1 (EXIF-like) block of `exif` bytes.
    fn jpeg(w: u16, h: u16, exif: usize) -> Vec<u8> {
        let mut b = vec![0xff, 0xd8];
        let mut left = exif;
        while left > 0 {
            let n = left.min(65_000);
            b.extend([0xff, 0xe1]);
            b.extend(((n + 2) as u16).to_be_bytes());
            b.resize(b.len() + n, 0x11);
            left -= n;
        }
        b.extend([0xff, 0xdb, 0, 4, 0, 0]); // a tiny DQT
        b.extend([0xff, 0xc0, 0, 17, 8]);
        b.extend(h.to_be_bytes());
        b.extend(w.to_be_bytes());
        b.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        b.extend([0xff, 0xd9]);
        b
    }

    fn gif(w: u16, h: u16) -> Vec<u8> {
        let mut b = b"GIF89a".to_vec();
        b.extend(w.to_le_bytes());
        b.extend(h.to_le_bytes());
        b.extend([0, 0, 0]);
        b
    }

    fn webp_vp8x(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        b.extend(&(w - 1).to_le_bytes()[..3]);
        b.extend(&(h - 1).to_le_bytes()[..3]);
        b
    }

    fn webp_vp8l(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        let bits = (w - 1) | (h - 1) << 14;
        b.extend(bits.to_le_bytes());
        b
    }

    /// A WAV of `seconds` of 16 kHz mono 16-bit silence.
    fn wav(seconds: u32) -> Vec<u8> {
        let data = 32_000 * seconds;
        let mut b = b"RIFF".to_vec();
        b.extend((36 + data).to_le_bytes());
        b.extend(b"WAVEfmt ");
        b.extend(16u32.to_le_bytes());
        b.extend(1u16.to_le_bytes()); // PCM
        b.extend(1u16.to_le_bytes()); // mono
        b.extend(16_000u32.to_le_bytes());
        b.extend(32_000u32.to_le_bytes()); // byte rate
        b.extend(2u16.to_le_bytes());
        b.extend(16u16.to_le_bytes());
        b.extend(b"data");
        b.extend(data.to_le_bytes());
        b.resize(b.len() + data as usize, 0);
        b
    }

    /// An MP4 with only an `ftyp` and a `moov` holding an `mvhd` of `seconds`.
    fn mp4(seconds: u32) -> Vec<u8> {
        let mut mvhd = vec![0u8; 4 + 4 + 4]; // version, flags, created, modified
        mvhd.extend(1000u32.to_be_bytes()); // timescale
        mvhd.extend((seconds * 1000).to_be_bytes());
        mvhd.resize(100, 0);
        let boxed = |name: &[u8], body: &[u8]| {
            let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            b.extend(name);
            b.extend(body);
            b
        };
        let mut b = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2");
        b.extend(boxed(b"mdat", &vec![0u8; 5000]));
        b.extend(boxed(b"moov", &boxed(b"mvhd", &mvhd)));
        b
    }

    fn pdf(pages: u32) -> Vec<u8> {
        let mut b = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n".to_vec();
        b.extend(format!("2 0 obj << /Type /Pages /Count {pages} >> endobj\n").as_bytes());
        for i in 0..pages {
            b.extend(
                format!("{} 0 obj << /Type /Page /Parent 2 0 R >> endobj\n", i + 3).as_bytes(),
            );
        }
        b.extend(b"%%EOF\n");
        b
    }

    fn gemini_inline(mime: &str, bytes: &[u8]) -> Vec<u8> {
        serde_json::json!({"contents": [{"parts": [
            {"inlineData": {"mimeType": mime, "data": b64(bytes)}}
        ]}]})
        .to_string()
        .into_bytes()
    }

    fn est(body: &[u8], accounting: Accounting) -> u64 {
        estimate(Some(body), accounting)
    }

    #[test]
    fn image_sizes_are_read_from_every_common_header() {
        assert_eq!(image_size(&png(1200, 800, 10)), Some((1200, 800)));
        assert_eq!(image_size(&gif(320, 200)), Some((320, 200)));
        assert_eq!(image_size(&jpeg(4000, 3000, 0)), Some((4000, 3000)));
        assert_eq!(image_size(&jpeg(640, 480, 150_000)), Some((640, 480)));
        assert_eq!(image_size(&webp_vp8x(2048, 1536)), Some((2048, 1536)));
        assert_eq!(image_size(&webp_vp8l(100, 50)), Some((100, 50)));
        assert_eq!(image_size(b"not an image"), None);
        assert_eq!(image_size(&[0xff, 0xd8, 0xff]), None);
    }

    #[test]
    fn gemini_counts_small_images_as_258_and_larger_ones_by_tiles() {
        let gemini = |w, h| image_tokens(w, h, Detail::High, Accounting::Gemini);
        assert_eq!(gemini(384, 384), 258);
        assert_eq!(gemini(100, 384), 258);
        // Google's own example: 960x540 -> crop unit 360 -> 3 x 2 tiles.
        assert_eq!(gemini(960, 540), 6 * 258);
        assert_eq!(gemini(1024, 1024), 4 * 258);
    }

    #[test]
    fn openai_counts_images_by_512px_tiles_after_scaling_or_85_at_low_detail() {
        let openai = |w, h, d| image_tokens(w, h, d, Accounting::OpenAi);
        assert_eq!(openai(4000, 3000, Detail::Low), 85);
        // OpenAI's examples: 1024x1024 -> 768x768 -> 4 tiles = 765;
        // 2048x4096 -> 1024x2048 -> 768x1536 -> 6 tiles = 1105.
        assert_eq!(openai(1024, 1024, Detail::High), 765);
        assert_eq!(openai(2048, 4096, Detail::High), 1105);
        assert_eq!(openai(300, 200, Detail::High), 85 + 170);
    }

    #[test]
    fn anthropic_counts_images_by_area_over_750_capped_at_the_resize() {
        let anthropic = |w, h| image_tokens(w, h, Detail::High, Accounting::Anthropic);
        // Anthropic's table: 200x200 ~ 54 tokens, 1092x1092 ~ 1590.
        assert_eq!(anthropic(200, 200), 54);
        assert_eq!(anthropic(1092, 1092), 1590);
        assert_eq!(anthropic(8000, 6000), 1600);
    }

    #[test]
    fn a_large_inline_image_costs_its_tiles_not_its_base64() {
        // ~1.2 MB of image: a 4000x3000 JPEG behind a big block, as cameras make.
        let photo = jpeg(4000, 3000, 1_200_000);
        let body = gemini_inline("image/jpeg", &photo);
        assert!(body.len() > 1_500_000);
        // crop unit 2000 -> 2 x 2 tiles.
        let tokens = est(&body, Accounting::Gemini);
        assert_eq!(tokens, 4 * 258 + 3, "{tokens}"); // + "image/jpeg" as text
        // OpenAI-style data URL on the same API counts the same way.
        let url = format!("data:image/jpeg;base64,{}", b64(&photo));
        let body = serde_json::json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": url}}
        ]}]})
        .to_string();
        let tokens = est(body.as_bytes(), Accounting::Gemini);
        assert!((4 * 258..4 * 258 + 40).contains(&tokens), "{tokens}");
        // The same body to OpenAI: 4000x3000 -> 2048x1536 -> 1024x768 -> 2x2 tiles.
        let tokens = est(body.as_bytes(), Accounting::OpenAi);
        assert!((765..765 + 40).contains(&tokens), "{tokens}");
    }

    #[test]
    fn audio_video_and_pdfs_count_by_duration_and_pages() {
        assert_eq!(audio_seconds(&wav(3), "audio/wav"), Some(3.0));
        assert_eq!(video_seconds(&mp4(7), "video/mp4"), Some(7.0));
        assert_eq!(pdf_pages(&pdf(5)), Some(5));
        let g = |mime, bytes: &[u8]| est(&gemini_inline(mime, bytes), Accounting::Gemini);
        let text = |mime: &str| (mime.chars().count() as u64).div_ceil(4);
        // 32 tokens a second of audio; ~300 a second of video; 258 a page.
        assert_eq!(g("audio/wav", &wav(3)), 96 + text("audio/wav"));
        assert_eq!(g("video/mp4", &mp4(7)), 2100 + text("video/mp4"));
        assert_eq!(
            g("application/pdf", &pdf(5)),
            5 * 258 + text("application/pdf")
        );
        // OpenAI's input_audio: a format, not a type; 10 tokens a second.
        let body = serde_json::json!({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": b64(&wav(4)), "format": "wav"}}
        ]}]});
        let tokens = est(body.to_string().as_bytes(), Accounting::OpenAi);
        assert!((40..50).contains(&tokens), "{tokens}");
    }

    #[test]
    fn anthropic_image_and_document_blocks_and_responses_input_image_are_media() {
        let block = |kind: &str, mime: &str, bytes: &[u8]| {
            serde_json::json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": kind, "source": {"type": "base64", "media_type": mime, "data": b64(bytes)}}
            ]}]})
            .to_string()
        };
        let tokens = est(
            block("image", "image/png", &png(1000, 750, 400_000)).as_bytes(),
            Accounting::Anthropic,
        );
        assert!((1000..1050).contains(&tokens), "{tokens}"); // 1000*750/750
        let tokens = est(
            block("document", "application/pdf", &pdf(2)).as_bytes(),
            Accounting::Anthropic,
        );
        assert!((6000..6050).contains(&tokens), "{tokens}");
        let body = serde_json::json!({"model": "gpt-4o", "input": [{"role": "user", "content": [
            {"type": "input_image", "image_url": format!("data:image/png;base64,{}", b64(&png(512, 512, 300_000))), "detail": "low"}
        ]}]});
        let tokens = est(body.to_string().as_bytes(), Accounting::OpenAi);
        assert!((85..110).contains(&tokens), "{tokens}");
    }

    #[test]
    fn referenced_files_get_a_documented_typical_size() {
        let body = serde_json::json!({"contents": [{"parts": [
            {"fileData": {"mimeType": "video/mp4", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}},
            {"fileData": {"mimeType": "image/png", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/def"}}
        ]}]});
        let tokens = est(body.to_string().as_bytes(), Accounting::Gemini);
        // One minute of video (18,000) and a 1024x1024 image (1,032), plus the types.
        assert!((19_032..19_040).contains(&tokens), "{tokens}");
        let body = serde_json::json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "file", "file": {"file_id": "file-abc"}}
        ]}]});
        let tokens = est(body.to_string().as_bytes(), Accounting::OpenAi);
        // 765 for the image, ten pages of 1,000 for the file.
        assert!((10_765..10_780).contains(&tokens), "{tokens}");
    }

    #[test]
    fn text_is_still_a_quarter_of_its_characters_and_odd_bodies_never_panic() {
        let body = br#"{"contents":[{"parts":[{"text":"12345678"}]}]}"#;
        assert_eq!(est(body, Accounting::Gemini), 2);
        assert_eq!(estimate(None, Accounting::Gemini), 1);
        assert_eq!(est(b"not json at all!", Accounting::Gemini), 4);
        // A `data` field that names no media is text.
        assert_eq!(est(br#"{"data": "abcdefgh"}"#, Accounting::OpenAi), 2);
        for garbage in [
            r#"{"inlineData": {"mimeType": "image/png", "data": "!!!not base64"}}"#,
            r#"{"inlineData": {"mimeType": "image/png", "data": ""}}"#,
            r#"{"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}"#,
            r#"{"inlineData": {"mimeType": "application/pdf", "data": "JVBERg=="}}"#,
            r#"{"inlineData": {"mimeType": "audio/mpeg", "data": "//8="}}"#,
            r#"{"image_url": {"url": "data:image/png;base64"}}"#,
            r#"{"image_url": {"url": "data:,"}}"#,
            r#"{"inlineData": {"mimeType": 5, "data": [1, 2]}}"#,
        ] {
            let tokens = est(garbage.as_bytes(), Accounting::Gemini);
            assert!(tokens < 20_000, "{garbage}: {tokens}");
        }
    }
}
