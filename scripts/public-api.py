#!/usr/bin/env python3
"""scripts/public-api.py: renders rustdoc's JSON output (format version 57,
the one rustc 1.95 writes) as a sorted, one-line-per-item listing of a
crate's public API. Called by scripts/public-api, which runs rustdoc; see
its header for what is listed and why. Standard library only.

    public-api.py render CRATE NAME=FILE.json [NAME=FILE.json ...]

Each NAME is a feature set ("default", "ssl", ...) and FILE its rustdoc JSON
(made with --document-hidden-items). Lines found in every build are printed
plain; a line found in some builds only is suffixed with `[feature: ...]`
(or `[without feature: ...]`). The crate `zk_sys` is summarised: its
hand-written items in full, the bindgen items (spans in OUT_DIR) counted.
"""

import json
import sys

# The rustdoc JSON format versions this parser was written for (rustc 1.95.0
# writes 57). Another toolchain may write another version, whose structure
# may differ: stop rather than print a wrong listing.
KNOWN_FORMAT_VERSIONS = {57}


# Auto and marker traits rustdoc reports that no stable code can name or
# rely on (compiler internals): left out. Send, Sync, Unpin, UnwindSafe and
# RefUnwindSafe stay: losing one breaks users.
UNSTABLE_AUTO_TRAITS = {
    "core::marker::Freeze",
    "core::marker::UnsafeUnpin",
    "core::marker::StructuralPartialEq",
    "core::clone::TrivialClone",  # #[doc(hidden)], added by derive(Clone, Copy)
}


def die(msg):
    sys.stderr.write("scripts/public-api.py: %s\n" % msg)
    sys.exit(1)


def is_hidden(item):
    for a in item.get("attrs", []):
        text = a if isinstance(a, str) else json.dumps(a)
        if "doc(hidden)" in text.replace(" ", ""):
            return True
    return False


def is_non_exhaustive(item):
    return any(a == "non_exhaustive" for a in item.get("attrs", []))


def is_generated(item):
    """A bindgen item: its source is in a build script's OUT_DIR."""
    span = item.get("span")
    if not span:
        return False
    f = span["filename"]
    return "/build/" in f and "/out/" in f


class Crate:
    def __init__(self, path):
        with open(path) as f:
            self.d = json.load(f)
        v = self.d.get("format_version")
        if v not in KNOWN_FORMAT_VERSIONS:
            die(
                "%s: rustdoc JSON format_version %r, this script knows %s: "
                "the installed toolchain changed; adapt scripts/public-api.py "
                "to the new format (see the rustdoc-types crate's changelog)"
                % (path, v, sorted(KNOWN_FORMAT_VERSIONS))
            )
        self.index = self.d["index"]
        self.paths = self.d["paths"]
        self.root = self.d["root"]
        self.crate_name = self.item(self.root)["name"]
        # id -> list of (path tuple, hidden)
        self.public_paths = {}
        self.lines = {}  # line -> hidden (False wins)
        self.generated = {}  # kind -> count (bindgen items)
        self.walk_module(self.root, (self.crate_name,), False, set())
        self.canonical = {}
        for id_, ps in self.public_paths.items():
            visible = [p for p, h in ps if not h]
            pool = visible or [p for p, _ in ps]
            self.canonical[id_] = min(pool, key=lambda p: (len(p), p))

    def item(self, id_):
        return self.index.get(str(id_))

    def kind(self, item):
        return next(iter(item["inner"]))

    # The walk: public modules and re-exports, from the crate root.

    def walk_module(self, mod_id, path, hidden, seen):
        if (mod_id, path) in seen:
            return
        seen.add((mod_id, path))
        mod = self.item(mod_id)
        for child_id in mod["inner"]["module"]["items"]:
            child = self.item(child_id)
            if child is None or child["visibility"] != "public":
                continue
            self.walk_item(child_id, child, path, hidden or is_hidden(child), seen)

    def walk_item(self, id_, item, path, hidden, seen, name=None):
        k = self.kind(item)
        if k == "use":
            u = item["inner"]["use"]
            target = self.item(u["id"]) if u["id"] is not None else None
            if u["is_glob"]:
                if target is not None and self.kind(target) == "module":
                    self.walk_module(u["id"], path, hidden or is_hidden(target), seen)
                else:
                    self.add_line("pub use %s::%s::*" % ("::".join(path), u["source"]), hidden, "::".join(path), 1)
                return
            if target is None:
                # An item of another crate (a crate, or an item rustdoc did
                # not inline): the re-export itself is the surface.
                ext = self.paths.get(str(u["id"])) if u["id"] is not None else None
                src = "::".join(ext["path"]) if ext else u["source"]
                kind = ext["kind"] if ext else "item"
                self.add_line(
                    "pub use %s::%s = %s %s" % ("::".join(path), u["name"], kind, src),
                    hidden, "::".join(path), 1,
                )
                return
            self.walk_item(u["id"], target, path, hidden or is_hidden(target), seen, name=u["name"])
            return
        name = name or item["name"]
        if name is None:
            return
        p = path if k == "module" and item["inner"]["module"]["is_crate"] else path + (name,)
        if is_generated(item):
            self.generated[k] = self.generated.get(k, 0) + 1
            return
        self.public_paths.setdefault(id_, []).append((p, hidden))
        if k == "module":
            self.walk_module(id_, p, hidden, seen)

    # Rendering types.

    def path_of(self, id_, fallback):
        if id_ is not None:
            if id_ in self.canonical:
                return "::".join(self.canonical[id_])
            s = self.paths.get(str(id_))
            if s is not None:
                p = s["path"]
                # zk_sys's bindgen items live in a private module, re-exported
                # at its root (`pub use bindings::*`): name them as users do.
                if p[:2] == ["zk_sys", "bindings"]:
                    p = ["zk_sys"] + p[2:]
                return "::".join(p)
        return fallback

    def ty(self, t):
        if t is None:
            return "()"
        if isinstance(t, str):
            if t == "infer":
                return "_"
            die("unknown type %r" % t)
        (k, v), = t.items()
        if k == "resolved_path":
            return self.path(v)
        if k == "dyn_trait":
            parts = [self.poly_trait(p) for p in v["traits"]]
            if v.get("lifetime"):
                parts.append(v["lifetime"])
            return "dyn " + " + ".join(parts)
        if k in ("generic", "primitive"):
            return v
        if k == "function_pointer":
            h = v["header"]
            pre = self.hrtb(v["generic_params"])
            pre += "unsafe " if h["is_unsafe"] else ""
            pre += self.abi(h["abi"])
            return pre + "fn" + self.sig(v["sig"], names=False)
        if k == "tuple":
            if len(v) == 1:
                return "(%s,)" % self.ty(v[0])
            return "(%s)" % ", ".join(self.ty(x) for x in v)
        if k == "slice":
            return "[%s]" % self.ty(v)
        if k == "array":
            return "[%s; %s]" % (self.ty(v["type"]), v["len"])
        if k == "pat":
            return self.ty(v["type"])
        if k == "impl_trait":
            return "impl " + self.bounds(v)
        if k == "raw_pointer":
            return "*%s %s" % ("mut" if v["is_mutable"] else "const", self.ty(v["type"]))
        if k == "borrowed_ref":
            s = "&"
            if v.get("lifetime"):
                s += v["lifetime"] + " "
            if v["is_mutable"]:
                s += "mut "
            return s + self.ty(v["type"])
        if k == "qualified_path":
            self_ty = self.ty(v["self_type"])
            args = self.generic_args(v.get("args"))
            if v.get("trait") is None:
                return "%s::%s%s" % (self_ty, v["name"], args)
            return "<%s as %s>::%s%s" % (self_ty, self.path(v["trait"]), v["name"], args)
        die("unknown type kind %r" % k)

    def path(self, p):
        return self.path_of(p.get("id"), p["path"]) + self.generic_args(p.get("args"))

    def poly_trait(self, p):
        return self.hrtb(p.get("generic_params", [])) + self.path(p["trait"])

    def hrtb(self, params):
        if not params:
            return ""
        return "for<%s> " % ", ".join(self.generic_param(g) for g in params)

    def abi(self, abi):
        if abi == "Rust":
            return ""
        if isinstance(abi, str):
            return 'extern "%s" ' % abi
        (k, _), = abi.items()
        return 'extern "%s" ' % k

    def generic_args(self, a):
        if a is None:
            return ""
        if isinstance(a, str):
            return "(..)"  # return_type_notation
        (k, v), = a.items()
        if k == "angle_bracketed":
            parts = [self.generic_arg(x) for x in v["args"]]
            parts += [self.constraint(c) for c in v["constraints"]]
            return "<%s>" % ", ".join(parts) if parts else ""
        if k == "parenthesized":
            s = "(%s)" % ", ".join(self.ty(x) for x in v["inputs"])
            if v.get("output") is not None:
                s += " -> " + self.ty(v["output"])
            return s
        if k == "return_type_notation":
            return "(..)"
        die("unknown generic args %r" % k)

    def generic_arg(self, a):
        if a == "infer":
            return "_"
        (k, v), = a.items()
        if k == "lifetime":
            return v
        if k == "type":
            return self.ty(v)
        if k == "const":
            return v["expr"]
        die("unknown generic arg %r" % k)

    def constraint(self, c):
        s = c["name"] + self.generic_args(c.get("args"))
        (k, v), = c["binding"].items()
        if k == "equality":
            (tk, tv), = v.items()
            return s + " = " + (self.ty(tv) if tk == "type" else tv["expr"])
        return s + ": " + self.bounds(v)

    def bound(self, b):
        (k, v), = b.items()
        if k == "trait_bound":
            m = {"none": "", "maybe": "?", "maybe_const": "~const "}.get(v["modifier"], "")
            return self.hrtb(v.get("generic_params", [])) + m + self.path(v["trait"])
        if k == "outlives":
            return v
        if k == "use":
            return "use<%s>" % ", ".join(
                x if isinstance(x, str) else next(iter(x.values())) for x in v
            )
        die("unknown bound %r" % k)

    def bounds(self, bs):
        return " + ".join(self.bound(b) for b in bs)

    def generic_param(self, g):
        (k, v), = g["kind"].items()
        if k == "lifetime":
            return g["name"] + (": " + " + ".join(v["outlives"]) if v["outlives"] else "")
        if k == "type":
            s = g["name"]
            if v["bounds"]:
                s += ": " + self.bounds(v["bounds"])
            if v.get("default") is not None:
                s += " = " + self.ty(v["default"])
            return s
        if k == "const":
            s = "const %s: %s" % (g["name"], self.ty(v["type"]))
            if v.get("default") is not None:
                s += " = " + v["default"]
            return s
        die("unknown generic param %r" % k)

    def generics(self, g):
        params = [p for p in g["params"] if not self.synthetic(p)]
        return "<%s>" % ", ".join(self.generic_param(p) for p in params) if params else ""

    def synthetic(self, p):
        t = p["kind"].get("type")
        return bool(t and t.get("is_synthetic"))

    def where(self, g, extra=()):
        preds = list(extra)
        for w in g["where_predicates"]:
            (k, v), = w.items()
            if k == "bound_predicate":
                preds.append(
                    "%s%s: %s" % (self.hrtb(v.get("generic_params", [])), self.ty(v["type"]), self.bounds(v["bounds"]))
                )
            elif k == "lifetime_predicate":
                preds.append("%s: %s" % (v["lifetime"], " + ".join(v["outlives"])))
            elif k == "eq_predicate":
                (tk, tv), = v["rhs"].items()
                preds.append("%s = %s" % (self.ty(v["lhs"]), self.ty(tv) if tk == "type" else tv["expr"]))
            else:
                die("unknown where predicate %r" % k)
        return " where " + ", ".join(preds) if preds else ""

    def sig(self, sig, names=True):
        params = []
        for name, t in sig["inputs"]:
            if name == "self":
                params.append(self.self_param(t))
            elif names:
                params.append("%s: %s" % (name, self.ty(t)))
            else:
                params.append(self.ty(t))
        if sig.get("is_c_variadic"):
            params.append("...")
        s = "(%s)" % ", ".join(params)
        if sig.get("output") is not None:
            s += " -> " + self.ty(sig["output"])
        return s

    def self_param(self, t):
        if t == {"generic": "Self"}:
            return "self"
        r = t.get("borrowed_ref") if isinstance(t, dict) else None
        if r and r["type"] == {"generic": "Self"}:
            lt = r["lifetime"] + " " if r.get("lifetime") else ""
            return "&%s%sself" % (lt, "mut " if r["is_mutable"] else "")
        return "self: " + self.ty(t)

    def function(self, name, f, prefix="pub ", impl_where=()):
        h = f["header"]
        q = ""
        q += "const " if h["is_const"] else ""
        q += "async " if h["is_async"] else ""
        q += "unsafe " if h["is_unsafe"] else ""
        q += self.abi(h["abi"])
        return "%s%sfn %s%s%s%s" % (
            prefix, q, name, self.generics(f["generics"]), self.sig(f["sig"]),
            self.where(f["generics"], impl_where),
        )

    # Listing.

    def add_line(self, line, hidden, owner, rank):
        """A line of the listing; the listing is grouped by owner (a type or
        trait with its members and impls, or a module with its free items),
        rank orders a group: 0 the declaration, 1 fields, variants, trait
        items and free items, 2 inherent associated items, 3 trait impls."""
        old = self.lines.get(line)
        self.lines[line] = ((owner, rank), (old[1] if old else True) and hidden)

    def attrs_prefix(self, item):
        s = ""
        if item.get("deprecation") is not None:
            s += "#[deprecated] "
        if is_non_exhaustive(item):
            s += "#[non_exhaustive] "
        return s

    def listing(self):
        for id_, ps in self.public_paths.items():
            item = self.item(id_)
            canon = self.canonical[id_]
            hidden = dict(ps)[canon] if canon in dict(ps) else True
            name = "::".join(canon)
            for p, h in ps:
                if p != canon:
                    self.add_line("pub use %s = %s" % ("::".join(p), name), h, "::".join(p[:-1]), 1)
            self.list_item(item, name, hidden)
        self.list_impls()
        if self.generated:
            counts = ", ".join("%d %s" % (n, k) for k, n in sorted(self.generated.items()))
            self.add_line("%s: bindgen items (not listed one by one): %s" % (self.crate_name, counts), False,
                          self.crate_name, 1)
        return self.lines

    def list_item(self, item, name, hidden):
        k = self.kind(item)
        v = item["inner"][k]
        pre = self.attrs_prefix(item)
        parent = name.rpartition("::")[0]
        free = lambda line: self.add_line(line, hidden, parent, 1)
        add = lambda line: self.add_line(line, hidden, name, 0)
        if k == "module":
            add("pub mod " + name)
        elif k == "function":
            free(pre + self.function(name, v))
        elif k == "constant":
            c = v["const"]
            val = "" if c["expr"] == "_" else " = " + c["expr"]
            free("%spub const %s: %s%s" % (pre, name, self.ty(v["type"]), val))
        elif k == "static":
            free("%spub %sstatic %s%s: %s" % (
                pre, "unsafe " if v.get("is_unsafe") else "", "mut " if v["is_mutable"] else "",
                name, self.ty(v["type"])))
        elif k == "type_alias":
            free("%spub type %s%s = %s%s" % (pre, name, self.generics(v["generics"]), self.ty(v["type"]),
                                           self.where(v["generics"])))
        elif k == "struct":
            gen = self.generics(v["generics"]) + self.where(v["generics"])
            sk = v["kind"]
            if sk == "unit":
                add("%spub struct %s%s;" % (pre, name, gen))
            elif "tuple" in sk:
                fields = [self.field_ty(f) for f in sk["tuple"]]
                add("%spub struct %s%s(%s);" % (pre, name, gen, ", ".join(fields)))
            else:
                pl = sk["plain"]
                tail = " (private fields)" if pl["has_stripped_fields"] else ""
                add("%spub struct %s%s%s" % (pre, name, gen, tail))
                self.list_fields(pl["fields"], name, hidden)
        elif k == "union":
            add("%spub union %s%s%s" % (pre, name, self.generics(v["generics"]), self.where(v["generics"])))
            self.list_fields(v["fields"], name, hidden)
        elif k == "enum":
            tail = " (private variants)" if v["has_stripped_variants"] else ""
            add("%spub enum %s%s%s%s" % (pre, name, self.generics(v["generics"]), self.where(v["generics"]), tail))
            for vid in v["variants"]:
                var = self.item(vid)
                self.list_variant(var, "%s::%s" % (name, var["name"]), hidden or is_hidden(var))
        elif k == "trait":
            sup = ": " + self.bounds(v["bounds"]) if v["bounds"] else ""
            q = ("unsafe " if v["is_unsafe"] else "") + ("auto " if v["is_auto"] else "")
            dyn = "" if v["is_dyn_compatible"] else " (not dyn-compatible)"
            add("%spub %strait %s%s%s%s%s" % (pre, q, name, self.generics(v["generics"]), sup,
                                             self.where(v["generics"]), dyn))
            for iid in v["items"]:
                it = self.item(iid)
                self.list_assoc(it, name, hidden or is_hidden(it), in_trait=True)
        elif k == "macro":
            free("pub macro %s!" % name)
        elif k == "proc_macro":
            free("pub proc_macro %s (%s)" % (name, v["kind"]))
        elif k == "trait_alias":
            add("pub trait %s = %s" % (name, self.bounds(v["params"] if "params" in v else [])))
        elif k in ("extern_type", "primitive"):
            add("pub %s %s" % (k, name))
        else:
            die("unknown item kind %r (%s)" % (k, name))

    def field_ty(self, fid):
        if fid is None:
            return "_"
        f = self.item(fid)
        return "pub " + self.ty(f["inner"]["struct_field"])

    def list_fields(self, fields, owner, hidden):
        for fid in fields:
            f = self.item(fid)
            if f["visibility"] != "public":
                continue
            self.add_line("%spub %s::%s: %s" % (self.attrs_prefix(f), owner, f["name"],
                                              self.ty(f["inner"]["struct_field"])), hidden or is_hidden(f),
                          owner, 1)

    def list_variant(self, var, name, hidden):
        v = var["inner"]["variant"]
        kind = v["kind"]
        s = self.attrs_prefix(var) + "pub " + name
        if kind == "plain":
            pass
        elif "tuple" in kind:
            s += "(%s)" % ", ".join(
                "_" if f is None else self.ty(self.item(f)["inner"]["struct_field"]) for f in kind["tuple"])
        else:
            st = kind["struct"]
            fs = ["%s: %s" % (self.item(f)["name"], self.ty(self.item(f)["inner"]["struct_field"]))
                  for f in st["fields"]]
            if st["has_stripped_fields"]:
                fs.append("..")
            s += " { %s }" % ", ".join(fs)
        if v.get("discriminant"):
            s += " = " + v["discriminant"]["expr"]
        self.add_line(s, hidden, name.rpartition("::")[0], 1)

    def list_assoc(self, it, owner, hidden, in_trait=False, impl_where=(), owner_key=None):
        k = self.kind(it)
        v = it["inner"][k]
        pre = self.attrs_prefix(it) + ("" if in_trait else "pub ")
        name = "%s::%s" % (owner, it["name"])
        if k == "function":
            line = self.function(name, v, prefix=pre, impl_where=impl_where)
            if in_trait and v["has_body"]:
                line += " { .. }"
        elif k == "assoc_const":
            line = "%sconst %s: %s" % (pre, name, self.ty(v["type"]))
            if v.get("value") not in (None, "_") and not in_trait:
                line += " = " + v["value"]
            elif in_trait and v.get("value"):
                line += " { .. }"
        elif k == "assoc_type":
            line = "%stype %s%s" % (pre, name, self.generics(v["generics"]))
            if v["bounds"]:
                line += ": " + self.bounds(v["bounds"])
            line += self.where(v["generics"])
            if v.get("type") is not None:
                line += (" = " if not in_trait else " { = ") + self.ty(v["type"]) + ("" if not in_trait else " }")
        else:
            die("unknown associated item kind %r (%s)" % (k, name))
        self.add_line(line, hidden, owner_key or owner, 1 if in_trait else 2)

    def local_type_id(self, t):
        """The id of a local, documented type an impl is for, if any."""
        rp = t.get("resolved_path") if isinstance(t, dict) else None
        if rp and self.item(rp["id"]) is not None and self.item(rp["id"])["crate_id"] == 0:
            return rp["id"]
        return None

    def type_hidden(self, id_):
        ps = self.public_paths.get(id_)
        if not ps:
            return None  # not reachable
        return all(h for _, h in ps)

    def list_impls(self):
        for sid, item in self.index.items():
            if item["crate_id"] != 0 or self.kind(item) != "impl":
                continue
            im = item["inner"]["impl"]
            if im["blanket_impl"] is not None:
                continue  # From<T>, Into, Borrow, Any...: follow from other impls
            hidden = is_hidden(item)
            tid = self.local_type_id(im["for"])
            if tid is not None:
                th = self.type_hidden(tid)
                if th is None:
                    continue  # an impl on a type users cannot name
                hidden = hidden or th
            if im["trait"] is not None and self.path_of(im["trait"].get("id"), "") in UNSTABLE_AUTO_TRAITS:
                continue
            if im["trait"] is not None:
                trid = im["trait"].get("id")
                if trid is not None and self.item(trid) is not None and self.item(trid)["crate_id"] == 0:
                    trh = self.type_hidden(trid)
                    if trh is None:
                        continue
                    hidden = hidden or trh
                elif tid is None:
                    continue  # neither the type nor the trait is ours
            if im["trait"] is None:
                if tid is None:
                    continue
                owner = self.ty(im["for"])
                gens = [p for p in im["generics"]["params"] if p["kind"].get("type", {}).get("bounds")]
                impl_where = ["%s: %s" % (p["name"], self.bounds(p["kind"]["type"]["bounds"])) for p in gens]
                impl_where += [self.where(im["generics"])[len(" where "):]] if im["generics"]["where_predicates"] else []
                for iid in im["items"]:
                    it = self.item(iid)
                    if it is None or it["visibility"] != "public":
                        continue
                    self.list_assoc(it, owner, hidden or is_hidden(it), impl_where=impl_where,
                                    owner_key=self.path_of(tid, owner))
                continue
            s = "%simpl%s %s%s for %s" % (
                "unsafe " if im["is_unsafe"] else "", self.generics(im["generics"]),
                "!" if im["is_negative"] else "", self.path(im["trait"]), self.ty(im["for"]))
            s += self.where(im["generics"])
            assoc = []
            for iid in im["items"]:
                it = self.item(iid)
                if it is not None and self.kind(it) == "assoc_type" and it["inner"]["assoc_type"].get("type"):
                    assoc.append("type %s = %s" % (it["name"], self.ty(it["inner"]["assoc_type"]["type"])))
            if assoc:
                s += " { %s }" % "; ".join(sorted(assoc))
            # Grouped with the type, or with our trait when the type is not ours.
            owner = self.path_of(tid, None) if tid is not None else self.path(dict(im["trait"], args=None))
            self.add_line(s, hidden, owner, 3)


def render(crate_name, builds):
    """builds: list of (feature set name, json path); the first is the
    default build."""
    per_build = []
    for name, path in builds:
        c = Crate(path)
        if c.crate_name != crate_name:
            die("%s documents crate %s, expected %s" % (path, c.crate_name, crate_name))
        per_build.append((name, c.listing()))
    names = [n for n, _ in per_build]
    all_lines = {}
    for name, lines in per_build:
        for line, (key, hidden) in lines.items():
            e = all_lines.setdefault(line, {"builds": set(), "hidden": True, "key": key})
            e["builds"].add(name)
            e["hidden"] = e["hidden"] and hidden
    out = {False: [], True: []}
    for line, e in all_lines.items():
        b = e["builds"]
        if len(b) < len(names):
            if names[0] in b:
                line += "  [without feature: %s]" % ", ".join(n for n in names if n not in b)
            else:
                line += "  [feature: %s]" % ", ".join(n for n in names if n in b)
        out[e["hidden"]].append((e["key"], line))
    return sorted(out[False]), sorted(out[True])


def main(argv):
    if len(argv) < 3 or argv[0] != "render":
        die("usage: public-api.py render CRATE NAME=FILE.json [NAME=FILE.json ...]")
    builds = []
    for a in argv[2:]:
        name, _, path = a.partition("=")
        builds.append((name, path))
    visible, hidden = render(argv[1], builds)
    w = sys.stdout.write
    def section(title, lines):
        w("## %s\n" % title)
        owner = None
        for (o, _), line in lines:
            if o != owner:
                w("\n")
                owner = o
            w(line + "\n")
        if not lines:
            w("\n(none)\n")

    section("%s: public" % argv[1], visible)
    w("\n")
    section("%s: #[doc(hidden)] (reachable, not part of the documented API)" % argv[1], hidden)


if __name__ == "__main__":
    main(sys.argv[1:])
