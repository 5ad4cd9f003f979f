/* fuzz.h — contract of a fuzz target: consume one input, never crash. */
#pragma once
#include <stddef.h>
#include <stdint.h>

int fuzz_one(const uint8_t *data, size_t size);
