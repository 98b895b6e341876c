//! Errors for people: an error with every cause under it, on one line.

use std::fmt;

/// Displays an error and its causes, `: `-separated (what anyhow's `{:#}`
/// prints), for the log lines of the shell, where errors are typed and
/// anyhow is not used.
pub struct Chain<'a>(pub &'a dyn std::error::Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot create port tap0")]
    struct Create(#[source] std::io::Error);

    #[test]
    fn each_cause_is_printed_once() {
        let error = Create(std::io::Error::other("connection reset"));
        assert_eq!(Chain(&error).to_string(), "cannot create port tap0: connection reset");
    }
}
