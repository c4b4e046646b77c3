//! Local SCIM 2.0 emulator (filled in by the emulator work).
