//! China's obfuscated coordinates: GCJ-02 (phones' maps in China: Amap, Tencent, WeChat) and
//! BD-09 (Baidu), to and from WGS84. The published GCJ-02 formula is the forward direction; the
//! inverse is solved by fixed-point iteration (three steps bring the error under a centimetre).
//!
//! Written here because no maintained Rust crate is reachable from this project's registry
//! (the one that is, `coord_transforms`, pulls a GUI framebuffer crate in); the formulas are
//! the ones every implementation (gcoord, eviltransform, prcoords) uses.

use std::f64::consts::PI;

use geo::{coord, Coord};

const A: f64 = 6_378_245.0;
const EE: f64 = 0.006_693_421_622_965_943;

/// Whether GCJ-02 applies here: mainland China (outside it the offset is zero).
pub fn in_china(c: Coord<f64>) -> bool {
    (72.004..=137.8347).contains(&c.x) && (0.8293..=55.8271).contains(&c.y)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn transform_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS84 → GCJ-02.
pub fn wgs84_to_gcj02(c: Coord<f64>) -> Coord<f64> {
    if !in_china(c) {
        return c;
    }
    let d_lat = transform_lat(c.x - 105.0, c.y - 35.0);
    let d_lon = transform_lon(c.x - 105.0, c.y - 35.0);
    let rad_lat = c.y / 180.0 * PI;
    let magic = 1.0 - EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat = (d_lat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrt_magic) * PI);
    let d_lon = (d_lon * 180.0) / (A / sqrt_magic * rad_lat.cos() * PI);
    coord! { x: c.x + d_lon, y: c.y + d_lat }
}

/// GCJ-02 → WGS84, by iterating the forward formula.
pub fn gcj02_to_wgs84(c: Coord<f64>) -> Coord<f64> {
    let mut w = c;
    for _ in 0..5 {
        let g = wgs84_to_gcj02(w);
        w = coord! { x: w.x - (g.x - c.x), y: w.y - (g.y - c.y) };
    }
    w
}

const X_PI: f64 = PI * 3000.0 / 180.0;

/// BD-09 → GCJ-02.
pub fn bd09_to_gcj02(c: Coord<f64>) -> Coord<f64> {
    let x = c.x - 0.0065;
    let y = c.y - 0.006;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * X_PI).cos();
    coord! { x: z * theta.cos(), y: z * theta.sin() }
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(c: Coord<f64>) -> Coord<f64> {
    let z = (c.x * c.x + c.y * c.y).sqrt() + 0.00002 * (c.y * X_PI).sin();
    let theta = c.y.atan2(c.x) + 0.000003 * (c.x * X_PI).cos();
    coord! { x: z * theta.cos() + 0.0065, y: z * theta.sin() + 0.006 }
}

/// BD-09 → WGS84.
pub fn bd09_to_wgs84(c: Coord<f64>) -> Coord<f64> {
    gcj02_to_wgs84(bd09_to_gcj02(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_hundreds_of_metres_in_china_and_none_outside() {
        // Tiananmen: the GCJ-02 offset is about +0.0062° lon, +0.0014° lat.
        let wgs = coord! { x: 116.391_305, y: 39.907_333 };
        let gcj = wgs84_to_gcj02(wgs);
        assert!((gcj.x - wgs.x - 0.006_2).abs() < 0.000_3, "{gcj:?}");
        assert!((gcj.y - wgs.y - 0.001_4).abs() < 0.000_3, "{gcj:?}");
        let zurich = coord! { x: 8.54, y: 47.37 };
        assert_eq!(wgs84_to_gcj02(zurich), zurich);
    }

    #[test]
    fn the_inverse_returns_within_a_centimetre() {
        for (x, y) in [(116.39, 39.9), (114.3, 30.6), (121.47, 31.23), (87.6, 43.8)] {
            let wgs = coord! { x: x, y: y };
            let back = gcj02_to_wgs84(wgs84_to_gcj02(wgs));
            assert!(
                (back.x - x).abs() < 1e-7 && (back.y - y).abs() < 1e-7,
                "{back:?}"
            );
        }
    }

    #[test]
    fn baidu_coordinates_come_back_too() {
        let gcj = coord! { x: 116.397_6, y: 39.908_7 };
        let bd = gcj02_to_bd09(gcj);
        // Baidu's offset on top of GCJ-02 is about (+0.0065°, +0.006°).
        assert!(
            (bd.x - gcj.x - 0.0065).abs() < 0.0005 && (bd.y - gcj.y - 0.006).abs() < 0.0005,
            "{bd:?}"
        );
        let back = bd09_to_gcj02(bd);
        assert!(
            (back.x - gcj.x).abs() < 1e-5 && (back.y - gcj.y).abs() < 1e-5,
            "{back:?}"
        );
    }
}
