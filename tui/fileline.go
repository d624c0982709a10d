package tui

import (
	"fmt"
	"image"
	"path/filepath"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"veil/client"
)

// How file messages and transfers are drawn: the file line of the chat
// view and the progress rows above the compose box.

// fileSize is a size as every screen of veil shows it.
func fileSize(n int64) string { return client.FormatSize(n) }

// fileName is a file's name as drawn: sanitised as every peer string is,
// and "file" when nothing is left.
func fileName(f *client.FileInfo) string {
	n := client.SanitizeLine(f.Name)
	if strings.TrimSpace(n) == "" {
		return "file"
	}
	return n
}

// percent is done of total as a whole percentage (0 when total is 0).
func percent(done, total uint32) int {
	if total == 0 {
		return 0
	}
	return int(uint64(min(done, total)) * 100 / uint64(total))
}

// fileState is a file's state in words, with its progress while it moves
// and what to do next where there is something to do.
func fileState(f *client.FileInfo) string {
	s := client.SanitizeLine(f.State)
	switch f.State {
	case client.FileUploading, client.FileDownloading:
		if f.Total > 0 {
			s += fmt.Sprintf(" %d%%", percent(f.Done, f.Total))
		}
	case client.FileOffered:
		s += " · d to download"
	case client.FileFailed, client.FileRefused:
		if f.Err != "" {
			s += ": " + client.SanitizeLine(f.Err)
		}
	}
	return s
}

// fileLineText is the chat line of a file message:
// "📎 report.pdf · 2.4 MB · ready"; a ready image whose size we read adds
// "image 1024×768 · v to view".
func fileLineText(f *client.FileInfo, dims image.Point) string {
	parts := []string{"📎 " + fileName(f), fileSize(f.Size), fileState(f)}
	if f.State == client.FileReady && isPreviewType(f.Type) && dims.X > 0 && dims.Y > 0 {
		parts = append(parts, fmt.Sprintf("image %d×%d", dims.X, dims.Y), "v to view")
	}
	return strings.Join(parts, " · ")
}

// fileKeysHint is the notice while a file line is selected.
const fileKeysHint = "s save · d download · v view · x cancel · esc leave"

// transfer is one running upload or download as the progress rows show it,
// fed by the engine's transfer events.
type transfer struct {
	chat, msg string
	name      string // sanitised
	up        bool
	size      int64
	status    string
	done      uint32
	total     uint32
	bytes     int64 // plaintext bytes moved so far
	rate      int64 // bytes per second
}

// active reports whether a file state is one of a running transfer.
func activeState(s string) bool {
	return s == client.FilePreparing || s == client.FileUploading || s == client.FileDownloading
}

// progressBarW is the bar's width in cells.
const progressBarW = 12

// minNameW is the fewest cells a progress row leaves for the name before
// it drops the time left, then the rate.
const minNameW = 12

// progressRow is one transfer's line:
// "↑ report.pdf  [#####-------]  47%  61.0 MB/s  0:01 left", cut to w.
func progressRow(t transfer, w int) string {
	arrow := "↓"
	if t.up {
		arrow = "↑"
	}
	p := percent(t.done, t.total)
	fill := p * progressBarW / 100
	parts := []string{fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("#", fill), strings.Repeat("-", progressBarW-fill), p)}
	if t.status == client.FilePreparing {
		parts = []string{"preparing…"}
	} else if t.rate > 0 {
		parts = append(parts, fileSize(t.rate)+"/s")
		if left := t.size - t.bytes; left > 0 {
			parts = append(parts, clockDuration(time.Duration(left/t.rate+1)*time.Second)+" left")
		}
	}
	tail := "  " + strings.Join(parts, "  ")
	for len(parts) > 1 && w-lipgloss.Width(tail)-2 < minNameW {
		parts = parts[:len(parts)-1]
		tail = "  " + strings.Join(parts, "  ")
	}
	name := truncate(t.name, max(4, w-lipgloss.Width(tail)-2))
	return truncate(arrow+" "+name+tail, max(1, w))
}

// clockDuration is a duration as h:mm:ss or m:ss.
func clockDuration(d time.Duration) string {
	s := int(d.Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// saveName is the default name to save a file as: its base name, never
// one that names a directory or hides itself.
func saveName(f *client.FileInfo) string {
	n := filepath.Base(fileName(f))
	if n == "." || n == ".." || n == "/" || strings.HasPrefix(n, "-") || strings.HasPrefix(n, ".") {
		return "file"
	}
	return n
}

// autoDownloadChoices are the auto-download limits the settings dialog
// cycles through, the engine's default first.
func autoDownloadChoices() []int64 {
	return []int64{client.DefaultAutoDownload, 1_000_000, 25_000_000, 100_000_000, 0}
}

func autoDownloadLabels() []string {
	var l []string
	for _, n := range autoDownloadChoices() {
		l = append(l, autoDownloadLabel(n))
	}
	return l
}

// autoDownloadLabel is a limit as the settings dialog shows it.
func autoDownloadLabel(n int64) string {
	if n <= 0 {
		return "off"
	}
	return fileSize(n)
}

// autoDownloadLimit is the limit a label of autoDownloadLabels stands for.
func autoDownloadLimit(label string) int64 {
	for _, n := range autoDownloadChoices() {
		if autoDownloadLabel(n) == label {
			return n
		}
	}
	return client.DefaultAutoDownload
}
