# Packaging targets (owner: packaging engineer), included by the Makefile.
#   make deb           dist/ingestd_<version>_amd64.deb
#   make rpm           dist/ingestd-<version>.x86_64.rpm
#   make package-test  packaging/test.sh (lintian, rpm, systemd-analyze,
#                      install/upgrade/purge in a debootstrap root)
# The version comes from git (packaging/version.sh); override with
# PKG_VERSION=... The binary is rebuilt with CGO_ENABLED=0 into bin/ingestd.

# Computed once per make run, so deb and rpm built together agree.
ifndef PKG_VERSION
PKG_VERSION := $(shell packaging/version.sh)
endif

.PHONY: deb rpm package-bin package-test

package-bin:
	@packaging/build.sh bin '$(PKG_VERSION)' bin/ingestd

deb: package-bin
	@packaging/build.sh deb '$(PKG_VERSION)' bin/ingestd

rpm: package-bin
	@packaging/build.sh rpm '$(PKG_VERSION)' bin/ingestd

package-test:
	@packaging/test.sh
