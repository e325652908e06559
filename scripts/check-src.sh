#!/bin/sh
# check-src.sh -- source rules CI enforces (STYLE.md §2 and §12):
#  1. dependencies point down: src/core never includes io/, store/, daemon/,
#     and each core module includes only modules below it;
#  2. banned functions outside src/core/base.
set -u
cd "$(dirname "$0")/.."
fail=0

# Module ranks: a module may include modules of lower rank (and itself).
rank() {
    case $1 in
    base) echo 0 ;;
    xml | jid) echo 1 ;;
    stanza | config) echo 2 ;;
    tls | sasl) echo 3 ;;
    dialback) echo 4 ;;
    stream) echo 5 ;;
    mux | route) echo 6 ;;
    *) echo 9 ;;
    esac
}

for f in $(find src/core -name '*.[ch]'); do
    mod=$(echo "$f" | cut -d/ -f3)
    r=$(rank "$mod")
    for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
        dep=$(echo "$inc" | cut -d/ -f1)
        case $dep in
        io | store | daemon)
            echo "$f: includes $inc (core must not depend on $dep)"
            fail=1
            continue
            ;;
        esac
        [ "$dep" = "$mod" ] && continue
        case $inc in */*) ;; *) continue ;; esac
        if [ "$(rank "$dep")" -ge "$r" ]; then
            echo "$f: includes $inc ($mod must not depend on $dep)"
            fail=1
        fi
    done
    # Internal headers stay inside their module.
    for inc in $(sed -n 's/^#include "\([^"]*_int\.h\)".*/\1/p' "$f"); do
        dep=$(echo "$inc" | cut -d/ -f1)
        if [ "$dep" != "$mod" ]; then
            echo "$f: includes another module's internals: $inc"
            fail=1
        fi
    done
done

banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|strncpy|alloca|select|malloc|realloc|free)[[:space:]]*\('
hits=$(grep -rnE "$banned" src tools 2>/dev/null | grep -v '^src/core/base/' |
    grep -vE '(x_malloc|x_realloc|x_free|_free|_malloc|_realloc)[[:space:]]*\(' |
    grep -vE '^\S+:[0-9]+:\s*(/?\*|//)')
if [ -n "$hits" ]; then
    echo "banned functions outside src/core/base:"
    echo "$hits"
    fail=1
fi

if [ $fail = 0 ]; then
    echo "1 passed, 0 failed"
else
    echo "0 passed, 1 failed"
fi
exit $fail
