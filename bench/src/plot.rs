//! PNG bar and line charts of bench results, drawn with plotters into a pixel buffer
//! and encoded with `png`: no system font or fontconfig is needed, the text is
//! rendered from the DejaVu font file (Debian's fonts-dejavu-core).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context as _;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Where Debian's fonts-dejavu-core puts the font.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const WIDTH: u32 = 1100;
const HEIGHT: u32 = 560;
/// One colour per series, in order.
const COLOURS: [RGBColor; 6] = [
    RGBColor(214, 96, 24),
    RGBColor(200, 40, 40),
    RGBColor(40, 110, 200),
    RGBColor(120, 60, 170),
    RGBColor(90, 90, 90),
    RGBColor(40, 150, 90),
];

/// Loads the font once; the error says which package brings it.
fn font() -> anyhow::Result<()> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let bytes = std::fs::read(FONT).map_err(|e| format!("{FONT}: {e} (apt-get install fonts-dejavu-core)"))?;
            plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
                .map_err(|_| format!("{FONT} is not a usable font"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// One named row of values, one per group.
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Index into the palette, so one server keeps its colour across charts.
    pub colour: usize,
    /// Values, one per group (NaN: no bar).
    pub values: Vec<f64>,
}

/// A grouped bar chart: one group per `groups` entry, one bar per series in each.
pub struct Chart<'a> {
    /// PNG file name.
    pub file: &'a str,
    /// Caption.
    pub title: &'a str,
    /// Unit of the values.
    pub y_label: &'a str,
    /// Group names along the x axis.
    pub groups: &'a [String],
    /// The bars.
    pub series: &'a [Series],
}

/// Draws `chart` to a PNG in `dir`.
pub fn bars(dir: &Path, chart: &Chart<'_>) -> anyhow::Result<()> {
    font()?;
    let Chart { file, title, y_label, groups, series } = *chart;
    let path = dir.join(file);
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let top = series.iter().flat_map(|s| s.values.iter().copied()).filter(|v| v.is_finite()).fold(0.0, f64::max);
        let slots = series.len() + 1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..(groups.len() * slots) as f64, 0.0..(top * 1.4).max(1e-9))?;
        chart.configure_mesh().disable_x_mesh().x_labels(0).y_desc(y_label).label_style(("sans-serif", 15)).draw()?;
        // Group names under the axis, centred on their bars (drawn on the root: the plot area clips).
        let centred = TextStyle::from(("sans-serif", 16).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (g, group) in groups.iter().enumerate() {
            let centre = (g * slots) as f64 + series.len() as f64 / 2.0 + 0.5;
            let (x, y) = chart.backend_coord(&(centre, 0.0));
            root.draw(&Text::new(group.clone(), (x, y + 10), centred.clone()))?;
        }
        for (i, s) in series.iter().enumerate() {
            let colour = COLOURS[s.colour % COLOURS.len()];
            let bars = s.values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(move |(g, v)| {
                let x = (g * slots + i) as f64 + 0.5;
                Rectangle::new([(x, 0.0), (x + 0.9, *v)], colour.filled())
            });
            chart
                .draw_series(bars)?
                .label(s.name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        root.present()?;
    }
    write_png(&path, &pixels)
}

fn write_png(path: &Path, pixels: &[u8]) -> anyhow::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| path.display().to_string())?);
    let mut encoder = png::Encoder::new(file, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(pixels)?;
    Ok(())
}

/// One named curve of (x, y) points.
pub struct Curve {
    /// Legend label.
    pub name: String,
    /// Index into the palette.
    pub colour: usize,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// Draws curves (e.g. cumulative distributions) to a PNG in `dir`.
pub fn lines(
    dir: &Path,
    file: &str,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
) -> anyhow::Result<()> {
    font()?;
    let path = dir.join(file);
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let points = || curves.iter().flat_map(|c| c.points.iter().copied());
        let right = points().map(|(x, _)| x).filter(|x| x.is_finite()).fold(0.0, f64::max);
        let top = points().map(|(_, y)| y).filter(|y| y.is_finite()).fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..(right * 1.05).max(1e-9), 0.0..(top * 1.05).max(1e-9))?;
        chart.configure_mesh().x_desc(x_label).y_desc(y_label).label_style(("sans-serif", 15)).draw()?;
        for c in curves {
            let colour = COLOURS[c.colour % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(c.points.iter().copied(), colour.stroke_width(2)))?
                .label(c.name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
        root.present()?;
    }
    write_png(&path, &pixels)
}
