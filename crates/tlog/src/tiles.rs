//! C2SP `tlog-tiles`: tiles of 256 hashes (level 0: leaf hashes; level `l`: hashes of full
//! subtrees of `256^l` leaves), entry bundles, and their paths
//! (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`, `N` in 3-digit groups, all but the
//! last prefixed `x`: 1234067 → `x001/x234/067`).

use crate::merkle::{Hash, TILE_WIDTH};

/// A tile (or, with `level` `None`, an entry bundle) and its width (256 when full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub level: Option<u32>,
    pub index: u64,
    pub width: u64,
}

impl Tile {
    /// The path under the log's prefix.
    pub fn path(&self) -> String {
        let level = match self.level {
            Some(level) => level.to_string(),
            None => "entries".to_string(),
        };
        let mut path = format!("tile/{level}/{}", encode_index(self.index));
        if self.width < TILE_WIDTH {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// Parses `tile/…` (strictly: no leading zeroes, widths 1–255, levels 0–63).
    pub fn parse(path: &str) -> Option<Tile> {
        let rest = path.strip_prefix("tile/")?;
        let (level, rest) = rest.split_once('/')?;
        let level = match level {
            "entries" => None,
            text => Some(decimal(text).filter(|l| *l <= 63)? as u32),
        };
        let (index, width) = match rest.split_once(".p/") {
            Some((index, width)) => (index, decimal(width).filter(|w| (1..TILE_WIDTH).contains(w))?),
            None => (rest, TILE_WIDTH),
        };
        let groups: Vec<&str> = index.split('/').collect();
        let mut n: u64 = 0;
        for (i, group) in groups.iter().enumerate() {
            let digits = if i + 1 < groups.len() { group.strip_prefix('x')? } else { group };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n = n.checked_mul(1000)?.checked_add(digits.parse::<u64>().ok()?)?;
        }
        // One encoding per index: no leading all-zero groups.
        (encode_index(n) == index).then_some(Tile { level, index: n, width })
    }

    /// The tile of `level` (`None`: entries) holding stored hash `index` of that level, as
    /// wide as a tree of `size` leaves makes it; `None` if the tree has no such tile.
    pub fn for_size(level: Option<u32>, tile_index: u64, size: u64) -> Option<Tile> {
        let stored = stored_count(level.unwrap_or(0), size);
        let start = tile_index.checked_mul(TILE_WIDTH)?;
        if stored <= start {
            return None;
        }
        Some(Tile { level, index: tile_index, width: (stored - start).min(TILE_WIDTH) })
    }

    /// First stored hash (or entry) of the tile.
    pub fn start(&self) -> u64 {
        self.index * TILE_WIDTH
    }
}

/// How many hashes of `level` a tree of `size` leaves has: `floor(size / 256^level)`.
pub fn stored_count(level: u32, size: u64) -> u64 {
    let mut count = size;
    for _ in 0..level {
        count /= TILE_WIDTH;
    }
    count
}

fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `1234067` → `x001/x234/067`.
pub fn encode_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// A tile's bytes: its hashes, concatenated.
pub fn tile_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

/// A tile's hashes from its bytes.
pub fn parse_tile(bytes: &[u8]) -> Option<Vec<Hash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(bytes.chunks(32).map(|c| c.try_into().expect("32 bytes")).collect())
}

/// An entry bundle: each entry prefixed by its length as a big-endian uint16.
pub fn bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in entries {
        let length = u16::try_from(entry.len()).unwrap_or(u16::MAX);
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&entry[..length as usize]);
    }
    bytes
}

/// The entries of a bundle; `None` if it is truncated.
pub fn parse_bundle(mut bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 2 {
            return None;
        }
        let length = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
        let entry = bytes.get(2..2 + length)?;
        entries.push(entry.to_vec());
        bytes = &bytes[2 + length..];
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_spec() {
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(1000), "x001/000");
        let tile = Tile { level: Some(1), index: 1_234_067, width: 7 };
        assert_eq!(tile.path(), "tile/1/x001/x234/067.p/7");
        assert_eq!(Tile::parse(&tile.path()), Some(tile));
        let entries = Tile { level: None, index: 5, width: 256 };
        assert_eq!(entries.path(), "tile/entries/005");
        assert_eq!(Tile::parse("tile/entries/005"), Some(entries));
        for bad in [
            "tile/0/5",
            "tile/0/x000/005",
            "tile/0/001/002",
            "tile/01/000",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/64/000",
        ] {
            assert_eq!(Tile::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn widths_of_a_tree_of_70000() {
        // The spec's example: 273 full level-0 tiles and one of 112, a full and a 17-wide
        // level-1 tile, a 1-wide level-2 tile.
        assert_eq!(Tile::for_size(Some(0), 272, 70_000).unwrap().width, 256);
        assert_eq!(Tile::for_size(Some(0), 273, 70_000).unwrap().width, 112);
        assert_eq!(Tile::for_size(Some(0), 274, 70_000), None);
        assert_eq!(Tile::for_size(Some(1), 0, 70_000).unwrap().width, 256);
        assert_eq!(Tile::for_size(Some(1), 1, 70_000).unwrap().width, 17);
        assert_eq!(Tile::for_size(Some(2), 0, 70_000).unwrap().width, 1);
        assert_eq!(Tile::for_size(Some(3), 0, 70_000), None);
    }

    #[test]
    fn bundles_round_trip() {
        let entries: Vec<&[u8]> = vec![b"a", b"", b"hello"];
        let bytes = bundle(entries.iter().copied());
        assert_eq!(&bytes[..3], &[0, 1, b'a']);
        assert_eq!(parse_bundle(&bytes).unwrap(), vec![b"a".to_vec(), vec![], b"hello".to_vec()]);
        assert_eq!(parse_bundle(&bytes[..bytes.len() - 1]), None);
    }
}
