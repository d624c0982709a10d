# Sourced by the scripts in .ci/: the toolchain, and which packages a
# change touches.

# -trimpath keeps the checkout's directory out of the build cache's keys:
# a fresh clone in a new directory reuses what an earlier clone compiled
# (with the race detector too) instead of compiling every package of the
# module again. The first run with it fills the cache once.
export GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath"
# The Go that CI uses (go.mod names it as its toolchain; the module still
# builds with Go 1.26): 1.27 fixes the fuzz coordinator's spurious
# deadline failure (golang/go#75804).
export GOTOOLCHAIN=go1.27.3

# pure_packages prints the packages docs/ARCHITECTURE.md marks pure: they
# start no goroutine (internal/archtest proves it), so their tests run
# without the race detector.
pure_packages() {
	awk -F'|' '/archtest:begin/,/archtest:end/ { if ($7 ~ /yes/) { gsub(/[` ]/, "", $2); print $2 } }' docs/ARCHITECTURE.md
}

# other_packages prints every package that is not pure.
other_packages() {
	comm -23 <(go list ./... | sort) <(pure_packages | sort)
}

# change_base prints the commit the change is measured from: $CI_BASE,
# or the commit recorded in .ci/full-passed (where .ci/full last passed),
# if it is an ancestor of HEAD; nothing when there is none.
change_base() {
	local base="${CI_BASE:-}"
	if [ -z "$base" ] && [ -f .ci/full-passed ]; then
		base=$(head -n 1 .ci/full-passed)
	fi
	if [ -n "$base" ] && git merge-base --is-ancestor "$base" HEAD 2>/dev/null; then
		echo "$base"
	fi
}

# changed_files prints the files changed since the change base, or
# "ALL" when there is no base.
changed_files() {
	local base
	base=$(change_base)
	if [ -z "$base" ]; then
		echo ALL
		return
	fi
	git diff --name-only "$base" HEAD
}

# changed_packages prints the packages with a changed file of their own
# in their directory (every package when there is no base).
changed_packages() {
	local files
	files=$(changed_files)
	if [ "$files" = ALL ]; then
		go list ./...
		return
	fi
	go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
		rel=${dir#"$PWD"/}
		[ "$dir" = "$PWD" ] && rel=.
		if grep -q -E "^${rel//./\\.}/[^/]+$" <<<"$files"; then
			echo "$pkg"
		fi
	done
}
