"""A thin MkDocs plugin around the Markdown extension.

It registers the extension, ships the widgets' assets, bakes every block of the site up front (with progress) so
large payloads can be added as generated files, passes the page's file name to error messages, refuses an id
that a curated explorable or an earlier block has, and, at the end of a clean full build (not under `mkdocs
serve`, no failing block), evicts cache entries the site no longer uses. A large payload's arrays that a view shows one at a time go into files of their
own (`generator/payload/parts.py`). Models stay loaded across `mkdocs serve` rebuilds (on_startup keeps this
plugin instance alive), so only changed blocks are baked again.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files

from . import markdown_ext, widget_html
from .errors import ExplorableError
from .export import offline
from .export.assets import asset_bytes
from .export.site import Downloads
from .fences import front_matter_lines, page_blocks
from .live.assets import LiveModels
from .methods import REGISTRY
from .payload.parts import data_name, split
from .widgets import ENTRY, asset_files, group_scripts

log = logging.getLogger("mkdocs.plugins.explorables")

ASSET_PREFIX = "assets/explorables"
EXTENSION = "generator.markdown_ext"


class ExplorablesConfig(Config):
    cache_dir = c.Type(str, default=".cache/explorables")
    explorables_dir = c.Type(str, default="explorables")
    embed_limit = c.Type(int, default=widget_html.DEFAULT_EMBED_LIMIT)
    evict = c.Type(bool, default=True)
    download = c.Type(bool, default=True)     # a "download HTML" link under each figure (export/site.py)
    log = c.Type(dict, default={})            # {tracker: mlflow|comet, tracking_uri, experiment, ...}: tracking/
    # Remote cache and precision (docs/writing.md, "Baking at scale"): fsspec storage options for a cache_dir URL;
    # the site's device (auto | cpu | cuda) and dtype (float32 | bfloat16), or EXPLORABLES_DEVICE / _DTYPE; bake:
    # false (or EXPLORABLES_BAKE=0) makes the build only read the cache, a missing payload an error at its block.
    cache_options = c.Type(dict, default={})
    device = c.Optional(c.Choice(("auto", "cpu", "cuda")))
    dtype = c.Optional(c.Choice(("float32", "bfloat16")))
    bake = c.Type(bool, default=True)
    live = c.Type(bool, default=False)        # every block that can be live gets "try your own text" (generator/live/)


class ExplorablesPlugin(BasePlugin[ExplorablesConfig]):
    command = "build"
    dirty = False
    clean = False       # every block of this build baked (set by _bake_all)

    def on_startup(self, *, command, dirty) -> None:
        self.command = command
        self.dirty = dirty

    def on_config(self, config):
        self.base_dir = str(Path(config.config_file_path or ".").resolve().parent)
        settings = dict(config.mdx_configs.get(EXTENSION, {}))
        settings.setdefault("cache_dir", self.config.cache_dir)
        settings.setdefault("explorables_dir", self.config.explorables_dir)
        settings.setdefault("embed_limit", self.config.embed_limit)
        settings["base_dir"] = self.base_dir
        # The extension is handed to Markdown as an instance holding this site's context (mkdocstrings' way), in
        # place of the name mkdocs.yml may list: no module globals pass state between plugin and extension.
        config.markdown_extensions[:] = [entry for entry in config.markdown_extensions if entry != EXTENSION
                                         and not isinstance(entry, markdown_ext.ExplorablesExtension)]
        probe = markdown_ext.ExplorablesExtension(**settings)
        folder = probe.path("explorables_dir")
        self.baker = self._baker(probe.path("cache_dir"))
        self.baker.cache.used.clear()
        self.payload_files: dict[str, bytes] = {}     # data file name (a hash of its bytes) -> bytes
        self.file_names: dict[bytes, str] = {}        # a payload written as a data file -> that file's name
        self.context = markdown_ext.SiteContext(baker=self.baker, catalogue=lambda: markdown_ext.catalogue_for(folder, self.base_dir),
                                                payload_sink=self._sink, embed_limit=int(settings["embed_limit"]))
        self.explorables_dir = folder
        self.downloads = Downloads(links=self.config.download)
        self.context.download_link = self.downloads.link
        self.live = LiveModels(self.baker, site_live=self.config.live)
        self.context.live = self.live.entry
        if self.config.log:
            from .tracking.command import check_options
            check_options(self.config.log)
        config.markdown_extensions.append(markdown_ext.ExplorablesExtension(self.context, **settings))
        for sheet in ("css/explorables.css",):
            if f"{ASSET_PREFIX}/{sheet}" not in config.extra_css:
                config.extra_css.append(f"{ASSET_PREFIX}/{sheet}")
        # The widgets as one classic script, run as soon as it arrives (async): not after parsing, as a module would.
        # The same script serves Material's offline plugin (pages read from file://), see export/offline.py.
        self.offline = offline.offline_enabled(config)
        script = f"{ASSET_PREFIX}/{ENTRY}"
        if script not in [str(entry) for entry in config.extra_javascript]:
            from mkdocs.config.config_options import ExtraScriptValue
            entry = ExtraScriptValue(script)
            entry.async_ = True
            config.extra_javascript.append(entry)
        if self.offline:
            offline.use_local_worker_shim(config)
        return config

    def _baker(self, cache_dir: str) -> markdown_ext.Baker:
        """The site's baker; a cache that cannot be reached or a bad device/dtype stops the build, naming the
        setting."""
        from mkdocs.exceptions import PluginError

        from .cache import CacheError
        read_only = not self.config.bake or os.environ.get("EXPLORABLES_BAKE", "").lower() in ("0", "false", "no")
        try:
            return markdown_ext.baker_for(cache_dir, self.base_dir, cache_options=self.config.cache_options,
                                          device=self.config.device, dtype=self.config.dtype, read_only=read_only)
        except (CacheError, ValueError) as error:
            raise PluginError(f"explorables: {error}") from None

    def on_serve(self, server, *, config, builder):
        """Rebuild when a curated spec changes, not only the pages."""
        if Path(self.explorables_dir).is_dir():
            server.watch(self.explorables_dir)
        return server

    def _sink(self, payload: bytes) -> str | None:
        return self.file_names.get(payload)

    def on_files(self, files: Files, *, config) -> Files:
        for relative, content in asset_files():
            files.append(File.generated(config, f"{ASSET_PREFIX}/{relative}", content=content))
        self._bake_all(files)
        for relative, content in self.live.files():     # nothing unless some page has a live block
            files.append(File.generated(config, f"{ASSET_PREFIX}/{relative}", content=content))
        for name, payload in sorted(self.payload_files.items()):
            files.append(File.generated(config, f"{ASSET_PREFIX}/data/{name}", content=payload))
            if self.offline:
                files.append(File.generated(config, f"{ASSET_PREFIX}/data/{name.removesuffix('.json')}.js",
                                            content=offline.payload_script(name, payload)))
        if self.offline:
            for path, asset in offline.shipped_files().items():
                files.append(File.generated(config, path, content=asset_bytes(asset)))
        return files

    def _bake_all(self, files: Files) -> None:
        """Bake every block now, so large payloads can become generated files; errors wait for the page. Specs
        the cache lacks are baked on all this machine's cores at once first (distributed/local.py). Sets `clean`
        False when a block fails (its cache entry must then not be evicted)."""
        from .distributed.local import bake_here

        self.clean = not self.context.catalogue().errors
        self.context.ids = {}        # the first block to declare an id keeps it, in the order of the pages
        specs: list = []
        for file in files.documentation_pages():
            text = Path(file.abs_src_path).read_text(encoding="utf-8-sig") if file.abs_src_path else ""
            offset, blocks = page_blocks(text)
            self.context.page = markdown_ext.PageContext(self._display_path(file), offset)
            for block in blocks:
                if not block.closed or block.misnamed is not None:    # reported when the page is rendered
                    self.clean = False
                    continue
                try:
                    specs.append(markdown_ext.spec_for(block, self.context))
                except ExplorableError:
                    self.clean = False      # reported, with its location, when the page is rendered
        self.context.page = markdown_ext.PageContext()
        bake_here(specs, self.baker)
        for spec in specs:
            try:
                payload = self.baker.payload(spec)
                self.live.entry(spec, payload)      # the live model's files, before on_files adds them
            except ExplorableError:
                self.clean = False
                continue      # reported, with its location, when the page is rendered
            if len(payload) > self.config.embed_limit:
                # arrays shown one at a time (a method's `parts`) become files of their own, fetched when shown
                main, parts = split(payload, REGISTRY.parts(), REGISTRY.detached())
                self.file_names[payload] = data_name(main)
                self.payload_files[data_name(main)] = main
                self.payload_files.update(parts)

    def on_page_markdown(self, markdown, *, page, config, files):
        source = Path(page.file.abs_src_path).read_text(encoding="utf-8-sig") if page.file.abs_src_path else ""
        self.context.page = markdown_ext.PageContext(self._display_path(page.file), front_matter_lines(source))
        self.downloads.on_page(page.url, self._display_path(page.file))
        return markdown

    def _log_build(self) -> None:
        """Log every figure of this build to the tracker of the `log:` option (tracking/command.py)."""
        from mkdocs.exceptions import PluginError

        from .tracking import TrackerError
        from .tracking.command import log_specs
        try:
            lines = log_specs(self.downloads.figures(), self.baker, **self.config.log)
        except TrackerError as error:
            raise PluginError(f"explorables: log: {error}") from None
        for line in lines:
            log.info("explorables: logged %s", line)

    def _display_path(self, file: File) -> str:
        """The page's path as the author knows it: relative to the folder of mkdocs.yml (docs/...)."""
        if not file.abs_src_path:
            return file.src_uri
        return Path(os.path.relpath(file.abs_src_path, self.base_dir)).as_posix()

    def on_post_page(self, output: str, *, page, config) -> str:
        """The widgets' core and the scripts of the views this page shows, fetched at high priority (one round
        trip) and run before Material's own script: an async script, or one after Material's, would run only after
        Material's ~100 ms of work, and the figures in view would be drawn that much later (benchmarks/RESULTS.md,
        peer.py). Without Material's script (another theme) they stay where they were, async."""
        core = re.search(r'<script src="([^"]*)' + re.escape(ENTRY.rsplit("/", 1)[1]) + r'" async></script>', output)
        if not core:
            return output
        theme = re.search(r'<script src="[^"]*assets/javascripts/bundle\.[0-9a-f]+\.min\.js"></script>',
                          output[:core.start()])
        tags = "".join(f'<script src="{core.group(1)}{path.rsplit("/", 1)[1]}"{"" if theme else " async"} '
                       'fetchpriority="high"></script>' for path in [ENTRY, *group_scripts(output)])
        rest, at = output[:core.start()] + output[core.end():], (theme or core).start()
        return rest[:at] + tags + rest[at:]

    def on_post_build(self, *, config) -> None:
        self.context.page = markdown_ext.PageContext()
        self.downloads.write(config.site_dir)
        if self.config.log:
            self._log_build()
        # Evict only at the end of a clean full build. A `mkdocs serve` rebuild after an edit that is undone a
        # moment later (a typo, another text), or a build with a failing block, would otherwise delete an entry
        # that the next build needs again (minutes of baking); such builds add their entries to the manifest.
        owner = str(config.config_file_path)
        if self.config.evict and not self.dirty and self.command != "serve" and self.clean:
            removed = self.baker.cache.evict_stale(owner=owner)
            if removed:
                log.info("explorables: evicted %d stale cache entries", removed)
        elif self.config.evict:
            self.baker.cache.remember(owner=owner)
