//! One module per subcommand family.

pub mod data;
// @@MODULES@@
