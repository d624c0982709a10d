// Package qr draws text as a QR code for a terminal: Encode makes the
// symbol (ISO/IEC 18004:2015, byte mode, error correction level L, versions
// 1 to 10) and Render draws it with Unicode half blocks. The command line
// and the terminal UI both show invite keys through it.
//
// The encoder is written here rather than imported: none of the project's
// allowed dependencies includes a maintained QR encoder, and an invite key
// needs only byte mode at one error-correction level. Its tests check the
// function patterns against the standard's module counts, the format and
// version bits and the Reed–Solomon code against the standard's tables,
// read every symbol back with an independent decoder, and compare whole
// symbols with those of an independent reference encoder
// (testdata/reference.json).
//
// The package is pure: no I/O, no state.
package qr
