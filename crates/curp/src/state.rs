//! Place of birth (CURP positions 12-13): the two-letter codes RENAPO uses
//! for the 32 federal entities, plus `NE` (*nacido en el extranjero*) for
//! people born abroad. Codes from the *Instructivo normativo para la
//! asignación de la CURP*, "Catálogo de entidades federativas".

use std::fmt;

macro_rules! states {
    ($($variant:ident => $code:literal, $name:literal;)*) => {
        /// A CURP place-of-birth code: one of the 32 federal entities, or
        /// [`State::NacidoEnElExtranjero`] (`NE`) for people born abroad.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum State {
            $(
                #[doc = concat!("`", $code, "`: ", $name, ".")]
                $variant,
            )*
        }

        impl State {
            const ALL: &'static [State] = &[$(State::$variant),*];

            /// The two-letter code written in the CURP, e.g. `"DF"`.
            #[must_use]
            pub fn code(self) -> &'static str {
                match self { $(State::$variant => $code,)* }
            }

            /// The entity's name in Spanish, e.g. `"Ciudad de México"`.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(State::$variant => $name,)* }
            }
        }
    };
}

states! {
    Aguascalientes => "AS", "Aguascalientes";
    BajaCalifornia => "BC", "Baja California";
    BajaCaliforniaSur => "BS", "Baja California Sur";
    Campeche => "CC", "Campeche";
    Coahuila => "CL", "Coahuila";
    Colima => "CM", "Colima";
    Chiapas => "CS", "Chiapas";
    Chihuahua => "CH", "Chihuahua";
    // `DF` is kept from the *Distrito Federal* days; the entity has been
    // Ciudad de México since 2016 but CURPs did not change.
    CiudadDeMexico => "DF", "Ciudad de México";
    Durango => "DG", "Durango";
    Guanajuato => "GT", "Guanajuato";
    Guerrero => "GR", "Guerrero";
    Hidalgo => "HG", "Hidalgo";
    Jalisco => "JC", "Jalisco";
    EstadoDeMexico => "MC", "Estado de México";
    Michoacan => "MN", "Michoacán";
    Morelos => "MS", "Morelos";
    Nayarit => "NT", "Nayarit";
    NuevoLeon => "NL", "Nuevo León";
    Oaxaca => "OC", "Oaxaca";
    Puebla => "PL", "Puebla";
    Queretaro => "QT", "Querétaro";
    QuintanaRoo => "QR", "Quintana Roo";
    SanLuisPotosi => "SP", "San Luis Potosí";
    Sinaloa => "SL", "Sinaloa";
    Sonora => "SR", "Sonora";
    Tabasco => "TC", "Tabasco";
    Tamaulipas => "TS", "Tamaulipas";
    Tlaxcala => "TL", "Tlaxcala";
    Veracruz => "VZ", "Veracruz";
    Yucatan => "YN", "Yucatán";
    Zacatecas => "ZS", "Zacatecas";
    NacidoEnElExtranjero => "NE", "Nacido en el extranjero";
}

impl State {
    /// The state for a two-letter code. Surrounding whitespace and lower
    /// case are accepted (`" df "` is Ciudad de México); anything else that
    /// is not one of the 33 codes gives `None`.
    ///
    /// ```
    /// use curp::State;
    /// assert_eq!(State::parse("DF"), Some(State::CiudadDeMexico));
    /// assert_eq!(State::parse("ne").map(State::name), Some("Nacido en el extranjero"));
    /// assert_eq!(State::parse("ZZ"), None);
    /// ```
    #[must_use]
    pub fn parse(code: &str) -> Option<State> {
        let code = code.trim();
        State::ALL.iter().copied().find(|s| s.code().eq_ignore_ascii_case(code))
    }

    /// All 33 codes: the 32 federal entities in the catalogue's order, then
    /// `NE`.
    #[must_use]
    pub fn all() -> &'static [State] {
        State::ALL
    }
}

/// Displays the two-letter code, as written in the CURP.
impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalogue_is_complete_and_unique() {
        assert_eq!(State::all().len(), 33);
        let codes: HashSet<_> = State::all().iter().map(|s| s.code()).collect();
        assert_eq!(codes.len(), 33);
        for code in [
            "AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT", "GR", "HG", "JC", "MC", "MN", "MS", "NT",
            "NL", "OC", "PL", "QT", "QR", "SP", "SL", "SR", "TC", "TS", "TL", "VZ", "YN", "ZS", "NE",
        ] {
            assert!(codes.contains(code), "{code}");
        }
    }

    #[test]
    fn parse_and_names() {
        assert_eq!(State::parse("DF").map(State::name), Some("Ciudad de México"));
        assert_eq!(State::parse(" nl ").map(State::name), Some("Nuevo León"));
        assert_eq!(State::parse("NE"), Some(State::NacidoEnElExtranjero));
        assert_eq!(State::parse("ZZ"), None);
        assert_eq!(State::parse(""), None);
        assert_eq!(State::parse("DFX"), None);
        assert_eq!(State::parse("ÑE"), None);
        for s in State::all() {
            assert_eq!(State::parse(s.code()), Some(*s));
            assert_eq!(s.to_string(), s.code());
        }
    }
}
