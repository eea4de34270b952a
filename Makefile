# hcledger: PGXS build.
#
# Regression tests: pg_regress scripts in sql/ (every sql/*.sql except the
# extension's own hcledger*.sql) with their expected output in expected/.
# They run on a throwaway server pg_regress starts itself (--temp-instance),
# in a database where pgtap and hcledger are already created.

EXTENSION  = hcledger
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = hcledger
OBJS       = $(patsubst %.c,%.o,$(wildcard src/*.c))
# The current version's install script is sql/install/*.sql, one file per
# concern named after src/, concatenated in name order into
# hcledger--$(EXTVERSION).sql.  Each released version's full script is kept
# as it was released (sql/hcledger--X.sql, committed), with an update script
# to the next (sql/hcledger--X--Y.sql): docs/upgrades.md.  The other files
# of sql/ are the regression tests.
INSTALL_SQL = $(sort $(wildcard sql/install/*.sql))
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))
DOCS       = README.md
# hcledger-export-tiles: a ledger's log as a static tlog-tiles tree (Perl, psql)
SCRIPTS    = src/cli/hcledger-export-tiles

REGRESS      = $(filter-out $(EXTENSION)%,$(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-instance=tmp_check --temp-config=test/regress.conf \
               --load-extension=pgtap --load-extension=hcledger

# TAP tests (Perl, PostgreSQL::Test::Cluster): several servers, restarts, crashes.
TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl

PG_CFLAGS  = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK = -lcrypto

EXTRA_CLEAN = $(DATA_built) $(EXTENSION)-*.zip hcledger-verify tmp_check results regression.diffs regression.out log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object is rebuilt when a header changes (PGXS tracks none)
$(OBJS): $(wildcard src/*.h)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_SQL)
	cat $^ > $@

# A PGXN release archive of the committed tree: hcledger-<version>.zip, one
# top directory, META.json at its root (its versions must be this one).
DIST = $(EXTENSION)-$(EXTVERSION)
.PHONY: dist
dist:
	@grep -q '"version": "$(EXTVERSION)"' META.json || { echo "META.json does not give version $(EXTVERSION)" >&2; exit 1; }
	git archive --format zip --prefix=$(DIST)/ -o $(DIST).zip HEAD
	@echo "$(DIST).zip"

# Benchmarks: a throwaway server, ratios against openssl speed and the baseline.
.PHONY: bench
bench:
	bash bench/run.sh

# The offline verifier: the same crypto, Merkle, note and receipt code as the
# extension, built for the frontend (libpgcommon for JSON and base64).
VERIFY_SRCS = src/cli/hcledger_verify.c src/cli/offline_code.c src/code_payload.c src/status_snapshot.c src/crypto.c src/merkle.c src/note.c src/receipt.c
PG_INCLUDEDIR_SERVER := $(shell $(PG_CONFIG) --includedir-server)

hcledger-verify: $(VERIFY_SRCS) $(wildcard src/*.h src/cli/*.h)
	$(CC) $(CFLAGS) $(PG_CFLAGS) -DFRONTEND -I$(PG_INCLUDEDIR_SERVER) -o $@ $(VERIFY_SRCS) \
		-L$(pkglibdir) -lpgcommon -lpgport -lcrypto

all: hcledger-verify
install: install-verify
uninstall: uninstall-verify
.PHONY: install-verify uninstall-verify
install-verify: hcledger-verify installdirs
	$(INSTALL_PROGRAM) hcledger-verify '$(DESTDIR)$(bindir)/hcledger-verify'
uninstall-verify:
	rm -f '$(DESTDIR)$(bindir)/hcledger-verify'

# Throwaway keys for the regression server (never committed): checkpoint
# signing, credential signing, the pseudonym secret and the node's SM2 key, owned by whoever
# runs the tests, mode 0600 as the server demands.
installcheck: regress-key
.PHONY: regress-key
regress-key:
	@mkdir -p test/keys
	@[ -f test/keys/regress_node.pem ] || openssl genpkey -algorithm ed25519 -out test/keys/regress_node.pem
	@[ -f test/keys/regress_credential.pem ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out test/keys/regress_credential.pem
	@[ -f test/keys/regress_pseudonym.key ] || openssl rand -out test/keys/regress_pseudonym.key 32
	@[ -f test/keys/regress_sm2.pem ] || openssl genpkey -algorithm SM2 -out test/keys/regress_sm2.pem
	@chmod 600 test/keys/regress_node.pem test/keys/regress_credential.pem test/keys/regress_pseudonym.key test/keys/regress_sm2.pem

# Production checks, each a script of its own (see the README's "Testing").
#   make fuzz           libFuzzer harnesses, each run for HCL_FUZZ_SECONDS
#   make fuzz-regress   every harness run once over its seeds and kept crashers
#   make sanitize       ASan + UBSan build running the regression suite
#   make valgrind       the offline verifier under valgrind's memcheck
#   make bench-report   every benchmark, a Markdown report and PNG plots
.PHONY: fuzz fuzz-regress sanitize valgrind bench-report
fuzz:
	bash test/fuzz/run.sh
fuzz-regress:
	bash test/fuzz/run.sh --regress
sanitize:
	bash test/sanitize.sh
valgrind:
	bash test/valgrind.sh
bench-report:
	bash bench/report.sh
