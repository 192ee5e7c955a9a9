//! The export as a PDF for people, written towards PDF/A-2b: the fonts
//! (DejaVu Sans, subset) are embedded with a ToUnicode map, so text can be
//! searched and copied (`pdftotext` reads it); colours are device-
//! independent (CalGray), so no output intent is needed; an XMP metadata
//! stream matches the document information; the trailer carries a file id.
//! Not checked with a PDF/A validator here (none is available offline).

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::writers::ColorSpace;
use pdf_writer::{Content, Date, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use sha2::{Digest, Sha256};
use subsetter::GlyphRemapper;
use time::UtcOffset;

use super::document::{Journal, Role};
use crate::output::assurance_words as level;

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;
const BODY: f32 = 10.0;

/// One of the two embedded fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    Regular,
    Bold,
}

/// An embedded font: its parsed face and the glyphs the document uses.
struct Font<'a> {
    data: &'a [u8],
    face: ttf_parser::Face<'a>,
    remapper: GlyphRemapper,
    /// New glyph id → the text it shows, for ToUnicode.
    unicode: Vec<(u16, char)>,
}

impl<'a> Font<'a> {
    fn new(data: &'a [u8]) -> Result<Self, String> {
        let face = ttf_parser::Face::parse(data, 0).map_err(|e| format!("font: {e}"))?;
        let mut remapper = GlyphRemapper::new();
        remapper.remap(0); // .notdef first, as fonts require
        Ok(Self {
            data,
            face,
            remapper,
            unicode: Vec::new(),
        })
    }

    fn glyph(&self, c: char) -> u16 {
        self.face
            .glyph_index(c)
            .or_else(|| self.face.glyph_index('?'))
            .map_or(0, |g| g.0)
    }

    /// Width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        let upem = f32::from(self.face.units_per_em());
        text.chars()
            .map(|c| {
                let g = ttf_parser::GlyphId(self.glyph(c));
                f32::from(self.face.glyph_hor_advance(g).unwrap_or(0)) * size / upem
            })
            .sum()
    }

    /// The 2-byte glyph ids (Identity-H) of `text`, in the subset.
    fn encode(&mut self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            let old = self.glyph(c);
            let new = self.remapper.remap(old);
            if !self.unicode.iter().any(|(g, _)| *g == new) {
                self.unicode.push((new, c));
            }
            out.extend_from_slice(&new.to_be_bytes());
        }
        out
    }
}

/// A laid-out line: where, in which face and size, and what.
struct Line {
    face: Face,
    size: f32,
    x: f32,
    text: String,
    /// A thin rule above the line.
    rule: bool,
}

/// Lays out paragraphs into pages of lines.
struct Layout<'f, 'a> {
    regular: &'f Font<'a>,
    bold: &'f Font<'a>,
    pages: Vec<Vec<(f32, Line)>>,
    y: f32,
}

impl<'f, 'a> Layout<'f, 'a> {
    fn font(&self, face: Face) -> &Font<'a> {
        match face {
            Face::Regular => self.regular,
            Face::Bold => self.bold,
        }
    }

    fn space(&mut self, points: f32) {
        self.y -= points;
    }

    /// Adds text, wrapped to the page width at `indent`.
    fn text(&mut self, face: Face, size: f32, indent: f32, text: &str) {
        let width = PAGE_W - 2.0 * MARGIN - indent;
        for paragraph in text.split('\n') {
            let mut line = String::new();
            for word in paragraph.split(' ') {
                let candidate = if line.is_empty() {
                    word.to_owned()
                } else {
                    format!("{line} {word}")
                };
                if self.font(face).width(&candidate, size) <= width || line.is_empty() {
                    line = candidate;
                } else {
                    self.push(face, size, indent, std::mem::take(&mut line), false);
                    line = word.to_owned();
                }
                // A word wider than the line is cut by characters.
                while self.font(face).width(&line, size) > width {
                    let mut cut = String::new();
                    for c in line.chars() {
                        if self.font(face).width(&format!("{cut}{c}"), size) > width {
                            break;
                        }
                        cut.push(c);
                    }
                    if cut.is_empty() {
                        break;
                    }
                    line = line[cut.len()..].to_owned();
                    self.push(face, size, indent, cut, false);
                }
            }
            self.push(face, size, indent, line, false);
        }
    }

    fn heading(&mut self, size: f32, text: &str) {
        self.space(size * 0.6);
        self.push(Face::Bold, size, 0.0, text.to_owned(), true);
        self.space(2.0);
    }

    fn push(&mut self, face: Face, size: f32, indent: f32, text: String, rule: bool) {
        let height = size * 1.35;
        if self.pages.is_empty() || self.y - height < MARGIN + 20.0 {
            self.pages.push(Vec::new());
            self.y = PAGE_H - MARGIN;
        }
        self.y -= height;
        let y = self.y;
        if let Some(page) = self.pages.last_mut() {
            page.push((
                y,
                Line {
                    face,
                    size,
                    x: MARGIN + indent,
                    text,
                    rule,
                },
            ));
        }
    }
}

fn time_in(unix_ms: u64, offset: UtcOffset) -> String {
    let shown = crate::output::format_time(unix_ms, offset);
    let (h, m, _) = offset.as_hms();
    format!(
        "{shown} (UTC{}{:02}:{:02})",
        if h < 0 || m < 0 { '-' } else { '+' },
        h.unsigned_abs(),
        m.unsigned_abs()
    )
}

/// Lays out the document's content.
fn content(l: &mut Layout<'_, '_>, j: &Journal, offset: UtcOffset) {
    l.text(Face::Bold, 16.0, 0.0, &format!("Journal: {}", j.subject));
    l.space(4.0);
    let mut facts = vec![
        ("Organisation", j.organisation.name.clone()),
        ("Team", j.team.name.clone()),
        ("Case", j.case.reference.clone()),
    ];
    if let Some(kle) = &j.case.kle {
        facts.push(("KLE", kle.clone()));
    }
    facts.push(("Thread", j.thread_id.to_string()));
    if let (Some(first), Some(last)) = (j.messages.first(), j.messages.last()) {
        facts.push((
            "Period",
            format!(
                "{} to {}",
                time_in(first.committed_at_ms, offset),
                time_in(last.committed_at_ms, offset)
            ),
        ));
    }
    facts.push(("Messages", format!("1 to {}", j.export.up_to_seq)));
    for r in &j.removed {
        facts.push((
            "Deleted before this export",
            format!("messages {} to {} ({})", r.from_seq, r.to_seq, r.reason),
        ));
    }
    for (k, v) in facts {
        l.text(Face::Regular, BODY, 0.0, &format!("{k}: {v}"));
    }

    l.heading(12.0, "Participants");
    for p in &j.participants {
        let what = match (p.role, p.assurance) {
            (Role::Citizen, Some(a)) => format!("citizen, identity assurance: {}", level(a)),
            (Role::Citizen, None) => "citizen".into(),
            (Role::Staff, _) => format!("staff, {} (certified by the organisation)", j.team.name),
        };
        l.text(Face::Regular, BODY, 0.0, &format!("{} — {what}", p.name));
    }

    l.heading(12.0, "Messages");
    for m in &j.messages {
        let who = match (&m.sender.team, m.sender.assurance) {
            (Some(team), _) => format!("{} ({team})", m.sender.name),
            (None, Some(a)) => format!("{} (citizen, identity: {})", m.sender.name, level(a)),
            (None, None) => m.sender.name.clone(),
        };
        l.space(4.0);
        l.text(
            Face::Bold,
            BODY,
            0.0,
            &format!("#{}  {}  {who}", m.seq, time_in(m.committed_at_ms, offset)),
        );
        l.text(Face::Regular, BODY, 12.0, &m.text);
        for a in &m.attachments {
            l.text(
                Face::Regular,
                8.5,
                12.0,
                &format!(
                    "Attachment: {} ({}, {} bytes) SHA-256 {}",
                    a.name, a.media_type, a.size, a.sha256
                ),
            );
        }
    }

    l.heading(12.0, "Verification");
    l.text(
        Face::Regular,
        BODY,
        0.0,
        &format!(
            "Exported {} by {} (record clerk, device {}) from {}. Before anything was written, these checks passed:",
            time_in(j.export.exported_at_ms, offset),
            j.export.clerk.name,
            j.export.clerk.device_fingerprint,
            j.export.server
        ),
    );
    for c in &j.export.checks {
        l.text(Face::Regular, BODY, 12.0, &format!("• {c}"));
    }
    l.space(4.0);
    l.text(
        Face::Regular,
        8.5,
        0.0,
        "journal.json beside this PDF holds every envelope, signature, certificate and content key, so the checks can be repeated without the server: `samtale journal verify journal.json`. MANIFEST.sha256 lists the SHA-256 of every file of the export.",
    );
}

/// XMP metadata with the PDF/A-2b identification.
fn xmp(j: &Journal, title: &str, created: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        r#"<?xpacket begin="﻿" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{}</rdf:li></rdf:Seq></dc:creator>
   <xmp:CreateDate>{created}</xmp:CreateDate>
   <xmp:ModifyDate>{created}</xmp:ModifyDate>
   <xmp:CreatorTool>{}</xmp:CreatorTool>
   <pdf:Producer>{}</pdf:Producer>
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"#,
        esc(title),
        esc(&j.organisation.name),
        esc(&j.export.generator),
        esc(&j.export.generator),
    )
}

/// Objects one embedded font takes.
const FONT_OBJECTS: i32 = 5;

/// Writes one embedded Type 0 font (CIDFontType2, Identity-H) as the
/// objects `type0`, `type0 + 1`, … `type0 + 4`.
fn write_font(pdf: &mut Pdf, type0: Ref, font: &Font<'_>, name: &str) -> Result<(), String> {
    let cid = type0.next();
    let (descriptor, file, cmap) = (cid.next(), cid.next().next(), cid.next().next().next());
    let subset =
        subsetter::subset(font.data, 0, &font.remapper).map_err(|e| format!("font subset: {e}"))?;
    // A subset's name carries a tag made from its glyphs (PDF 9.6.4).
    let digest = Sha256::digest(
        font.remapper
            .remapped_gids()
            .flat_map(u16::to_be_bytes)
            .collect::<Vec<u8>>(),
    );
    let tag: String = digest
        .iter()
        .take(6)
        .map(|b| char::from(b'A' + b % 26))
        .collect();
    let base = format!("{tag}+{name}");
    let base = Name(base.as_bytes());
    let upem = f32::from(font.face.units_per_em());
    let scale = |v: i16| f32::from(v) * 1000.0 / upem;

    pdf.type0_font(type0)
        .base_font(base)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap);
    let system = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    let widths: Vec<f32> = font
        .remapper
        .remapped_gids()
        .map(|old| {
            f32::from(
                font.face
                    .glyph_hor_advance(ttf_parser::GlyphId(old))
                    .unwrap_or(0),
            ) * 1000.0
                / upem
        })
        .collect();
    let mut cid_font = pdf.cid_font(cid);
    cid_font
        .subtype(CidFontType::Type2)
        .base_font(base)
        .system_info(system)
        .font_descriptor(descriptor)
        .default_width(0.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    cid_font.widths().consecutive(0, widths);
    cid_font.finish();
    let bbox = font.face.global_bounding_box();
    pdf.font_descriptor(descriptor)
        .name(base)
        .flags(FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(
            scale(bbox.x_min),
            scale(bbox.y_min),
            scale(bbox.x_max),
            scale(bbox.y_max),
        ))
        .italic_angle(0.0)
        .ascent(scale(font.face.ascender()))
        .descent(scale(font.face.descender()))
        .cap_height(scale(
            font.face.capital_height().unwrap_or(font.face.ascender()),
        ))
        .stem_v(80.0)
        .font_file2(file);
    pdf.stream(file, &subset).pair(
        Name(b"Length1"),
        i32::try_from(subset.len()).unwrap_or(i32::MAX),
    );
    let mut map = UnicodeCmap::new(Name(b"Samtale-UTF16"), system);
    for (g, c) in &font.unicode {
        map.pair(*g, *c);
    }
    let map = map.finish();
    pdf.cmap(cmap, map.as_slice());
    Ok(())
}

/// The PDF's bytes.
pub fn render(j: &Journal, offset: UtcOffset) -> Result<Vec<u8>, String> {
    let mut regular = Font::new(dejavu::sans::regular())?;
    let mut bold = Font::new(dejavu::sans::bold())?;
    let pages = {
        let mut l = Layout {
            regular: &regular,
            bold: &bold,
            pages: Vec::new(),
            y: PAGE_H,
        };
        content(&mut l, j, offset);
        l.pages
    };

    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let info = Ref::new(3);
    let meta = Ref::new(4);
    let mut next = 4;
    let page_refs: Vec<(Ref, Ref)> = pages
        .iter()
        .map(|_| {
            next += 2;
            (Ref::new(next - 1), Ref::new(next))
        })
        .collect();
    let regular_ref = Ref::new(next + 1);
    let bold_ref = Ref::new(next + 1 + FONT_OBJECTS);
    let total = pages.len();
    for (n, (lines, (page_ref, content_ref))) in pages.iter().zip(&page_refs).enumerate() {
        let mut c = Content::new();
        c.set_fill_color_space(Name(b"CS0"));
        c.set_fill_color([0.0]);
        c.set_stroke_color_space(Name(b"CS0"));
        c.set_stroke_color([0.6]);
        c.set_line_width(0.5);
        let footer = format!(
            "Case {} · thread {} · page {} of {total}",
            j.case.reference,
            j.thread_id,
            n + 1
        );
        let footer = Line {
            face: Face::Regular,
            size: 8.0,
            x: MARGIN,
            text: footer,
            rule: false,
        };
        let all = lines
            .iter()
            .map(|(y, l)| (*y, l))
            .chain(std::iter::once((MARGIN - 24.0, &footer)));
        for (y, line) in all {
            if line.rule {
                c.move_to(MARGIN, y + line.size * 1.3);
                c.line_to(PAGE_W - MARGIN, y + line.size * 1.3);
                c.stroke();
            }
            let (font, name) = match line.face {
                Face::Regular => (&mut regular, Name(b"F1")),
                Face::Bold => (&mut bold, Name(b"F2")),
            };
            let glyphs = font.encode(&line.text);
            c.begin_text();
            c.set_font(name, line.size);
            c.next_line(line.x, y);
            c.show(Str(&glyphs));
            c.end_text();
        }
        pdf.stream(*content_ref, &c.finish());
        let mut page = pdf.page(*page_ref);
        page.parent(tree)
            .media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .contents(*content_ref);
        let mut resources = page.resources();
        resources
            .fonts()
            .pair(Name(b"F1"), regular_ref)
            .pair(Name(b"F2"), bold_ref);
        resources
            .color_spaces()
            .insert(Name(b"CS0"))
            .start::<ColorSpace>()
            .cal_gray([0.9505, 1.0, 1.089], None, None);
        resources.finish();
        page.finish();
    }
    write_font(&mut pdf, regular_ref, &regular, "DejaVuSans")?;
    write_font(&mut pdf, bold_ref, &bold, "DejaVuSans-Bold")?;

    pdf.pages(tree)
        .kids(page_refs.iter().map(|(p, _)| *p))
        .count(i32::try_from(total).unwrap_or(i32::MAX));
    let title = format!("Journal: {}", j.subject);
    let created = time::OffsetDateTime::from_unix_timestamp(
        i64::try_from(j.export.exported_at_ms / 1000).unwrap_or(0),
    )
    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let date = Date::new(u16::try_from(created.year()).unwrap_or(1970))
        .month(u8::from(created.month()))
        .day(created.day())
        .hour(created.hour())
        .minute(created.minute())
        .second(created.second())
        .utc_offset_hour(0)
        .utc_offset_minute(0);
    pdf.document_info(info)
        .title(TextStr(&title))
        .author(TextStr(&j.organisation.name))
        .creator(TextStr(&j.export.generator))
        .producer(TextStr(&j.export.generator))
        .creation_date(date)
        .modified_date(date);
    let xmp = xmp(j, &title, &j.export.exported_at);
    pdf.stream(meta, xmp.as_bytes())
        .pair(Name(b"Type"), Name(b"Metadata"))
        .pair(Name(b"Subtype"), Name(b"XML"));
    pdf.catalog(catalog).pages(tree).metadata(meta);
    let id = Sha256::digest(format!(
        "{}:{}:{}",
        j.thread_id, j.export.up_to_seq, j.export.exported_at_ms
    ));
    pdf.set_file_id((id[..16].to_vec(), id[..16].to_vec()));
    Ok(pdf.finish())
}
