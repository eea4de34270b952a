# fuzz.mk: builds the libFuzzer harnesses out of the extension's own sources.
# Invoked by run.sh (make -f test/fuzz/fuzz.mk B=<build dir>); all output
# goes under $(B), never into src/.
#
# Frontend objects (-DFRONTEND, as the hcledger-verify rule in the top-level
# Makefile builds them): crypto.c, merkle.c, note.c, receipt.c.  Backend
# objects (the server's headers, linked with the shim): hash256.c, and
# codes.c and consortium.c, which their harnesses #include to reach their
# static parsing functions.

PG_CONFIG ?= pg_config
CC        ?= clang
ifeq ($(origin CC),default)
CC = clang
endif
B         ?= build

ROOT   := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)
FUZZ   := $(ROOT)/test/fuzz
SRC    := $(ROOT)/src
PGLIB  := $(shell $(PG_CONFIG) --pkglibdir)
INCS   := -I$(shell $(PG_CONFIG) --includedir-server) -I$(shell $(PG_CONFIG) --includedir) \
          -I$(SRC) -I$(FUZZ)

SANITIZE := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
CFLAGS_FUZZ := -g -O1 $(SANITIZE) -fno-omit-frame-pointer -Wall -Wno-unused-parameter \
               -Wno-unused-function -Wno-missing-field-initializers -Wno-ignored-attributes
LIBS   := -L$(PGLIB) -lpgcommon -lpgport -lcrypto -lm

HEADERS := $(wildcard $(SRC)/*.h) $(wildcard $(FUZZ)/*.h)

HARNESSES := hash256 proof receipt checkpoint decimal base64 public_key \
             signature code_payload base45 log_entries status_snapshot

# Which objects each harness links, besides its own and the shim.
FE_crypto := $(B)/fe/crypto.o
FE_all    := $(B)/fe/crypto.o $(B)/fe/merkle.o $(B)/fe/note.o $(B)/fe/receipt.o
BE_hash   := $(B)/be/hash256.o $(B)/be/crypto.o $(B)/be/merkle.o

OBJS_hash256      := $(BE_hash)
OBJS_proof        := $(B)/fe/merkle.o $(FE_crypto)
OBJS_receipt      := $(FE_all)
OBJS_checkpoint   := $(FE_all)
OBJS_decimal      := $(FE_all)
OBJS_base64       := $(FE_all)
OBJS_public_key   := $(FE_crypto)
OBJS_signature    := $(FE_crypto)
OBJS_code_payload := $(BE_hash)
OBJS_base45       := $(BE_hash)
OBJS_log_entries  := $(BE_hash)
OBJS_status_snapshot := $(B)/fe/status_snapshot.o $(FE_all)

# Harnesses compiled against the server's headers.
BACKEND_HARNESSES := hash256 code_payload base45 log_entries

SHIM := $(B)/shim/shim_mem.o $(B)/shim/shim_backend.o $(B)/shim/shim_stubs.o

BINS := $(addprefix $(B)/bin/fuzz_,$(HARNESSES))

all: $(BINS)

$(B)/fe/%.o: $(SRC)/%.c $(HEADERS) $(FUZZ)/fuzz.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_FUZZ) -DFRONTEND $(INCS) -c -o $@ $<

$(B)/be/%.o: $(SRC)/%.c $(HEADERS) $(FUZZ)/fuzz.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_FUZZ) $(INCS) -c -o $@ $<

$(B)/shim/shim_mem.o: $(FUZZ)/shim_mem.c $(HEADERS) $(FUZZ)/fuzz.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_FUZZ) -DFRONTEND $(INCS) -c -o $@ $<

$(B)/shim/%.o: $(FUZZ)/%.c $(HEADERS) $(FUZZ)/fuzz.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_FUZZ) $(INCS) -c -o $@ $<

# A harness that #includes a backend source depends on it.
$(B)/h/fuzz_code_payload.o $(B)/h/fuzz_base45.o: $(SRC)/codes.c $(SRC)/code_payload.c
$(B)/h/fuzz_log_entries.o: $(SRC)/consortium.c

$(B)/h/fuzz_%.o: $(FUZZ)/fuzz_%.c $(HEADERS) $(FUZZ)/fuzz.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_FUZZ) $(if $(filter $*,$(BACKEND_HARNESSES)),,-DFRONTEND) $(INCS) -c -o $@ $<

.SECONDEXPANSION:
$(B)/bin/fuzz_%: $(B)/h/fuzz_%.o $$(OBJS_$$*) $(SHIM)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_FUZZ) -o $@ $^ $(LIBS)

# The seed generator (run.sh --seeds): a plain program, no sanitizers.
CFLAGS_GEN := -g -O1 -Wall -Wno-unused-parameter -Wno-ignored-attributes

$(B)/gen/%.o: $(SRC)/%.c $(HEADERS) $(FUZZ)/fuzz.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_GEN) -DFRONTEND $(INCS) -c -o $@ $<

$(B)/gen/gen_seeds.o: $(FUZZ)/gen_seeds.c $(HEADERS) $(FUZZ)/fuzz.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_GEN) -DFRONTEND $(INCS) -c -o $@ $<

$(B)/bin/gen_seeds: $(B)/gen/gen_seeds.o $(B)/gen/crypto.o $(B)/gen/merkle.o $(B)/gen/note.o $(B)/gen/receipt.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_GEN) -o $@ $^ $(LIBS)

.PHONY: all
