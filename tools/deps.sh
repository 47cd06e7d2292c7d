# shellcheck shell=sh
# Sourced by tools/demo, tools/test and .ci/run: installs missing Debian packages.
# ns_need PKG...: installs those of PKG that are not installed (apt-get, as root or via sudo).
ns_need()
{
	missing=""
	for pkg in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
			missing="$missing $pkg"
		fi
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		sudo_cmd=""
	elif command -v sudo >/dev/null 2>&1; then
		sudo_cmd="sudo"
	else
		echo "nanostream: missing Debian packages:$missing" >&2
		echo "nanostream: run as root, or install them: apt-get install$missing" >&2
		exit 1
	fi
	echo "nanostream: installing$missing" >&2
	if [ -z "${NS_APT_UPDATED:-}" ]; then
		$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		NS_APT_UPDATED=1
		export NS_APT_UPDATED
	fi
	# shellcheck disable=SC2086
	$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
}

# What building nanostream needs.
NS_BUILD_PKGS="gcc libc6-dev meson ninja-build pkg-config libhugetlbfs-dev libnuma-dev"
# What the test suite needs on top (g++ and clang for the C++ header and wrapper checks, acl for setfacl in the
# hostile-directory tests, tshark and tcpdump to read our UDP frames with Wireshark's Aeron
# dissector, iproute2 and nftables for the network-namespace test's veth pair, loss and rate
# limit), python3-dev, python3-pytest and python3-numpy for the Python binding and its tests).
NS_TEST_PKGS="libcmocka-dev g++ clang python3 acl tshark tcpdump iproute2 nftables python3-dev python3-pytest python3-numpy"

# The Debian interpreter, which the packages above serve (python3-mesonpy, python3-pytest, ...),
# even when another python3 (pyenv, a venv) comes first on PATH.
NS_PYTHON=/usr/bin/python3
[ -x "$NS_PYTHON" ] || NS_PYTHON=python3

# The prefix for commands that need root: empty as root, else sudo.
if [ "$(id -u)" -eq 0 ]; then
	NS_SUDO=""
else
	NS_SUDO="sudo"
fi
