/* SPDX-License-Identifier: Apache-2.0 */
/* layer: gateway */
/*
 * libcerto umbrella header: everything a face (CLI, tests, embedders) may use.
 */
#ifndef CERTO_CERTO_H
#define CERTO_CERTO_H

#include "certo/common.h"
#include "certo/err.h"
#include "certo/mem.h"
#include "certo/buf.h"
#include "certo/reader.h"
#include "certo/utf8.h"
#include "certo/limits.h"
#include "certo/secret.h"
#include "certo/file.h"
#include "certo/clock.h"
#include "certo/log.h"
#include "certo/exec.h"
#include "certo/hex.h"
#include "certo/uuid.h"
#include "certo/key.h"
#include "certo/cert.h"
#include "certo/csr.h"
#include "certo/chain.h"
#include "certo/keystore.h"
#include "certo/pem.h"
#include "certo/pkcs12.h"
#include "certo/jks.h"
#include "certo/bundle.h"
#include "certo/seal.h"
#include "certo/tlsprobe.h"
#include "certo/store.h"
#include "certo/endpoint.h"
#include "certo/registry.h"

#endif
