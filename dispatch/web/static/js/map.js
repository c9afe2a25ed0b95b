// The map every screen shares: Leaflet with the configured tiles, and an offline view (the
// road network the server routes on, on a plain background) when tiles cannot be reached —
// a control room without internet still sees roads, hospitals, stations and units.

import { cfg, el, t, currentLang, onLangChange } from "./common.js";

const L = window.L;

/** Tiles that fail before any tile has loaded, or nothing loading within this long,
 * mean the tile server is unreachable. */
const TILE_TIMEOUT_MS = 6000;
const TILE_RETRY_MS = 60000;
/** Street names are written from this zoom on (below it they would cover the roads). */
const NAMES_FROM_ZOOM = 13;
/** Space kept between two street names (px). */
const NAME_GAP_PX = 4;

export class DispatchMap {
  /**
   * @param {HTMLElement} container
   * @param {() => Promise<{lines: number[][][]}>} loadRoads fetches /map/roads (with auth)
   * @param {{center?: number[], zoom?: number, onClick?: (lat: number, lon: number) => void}} options
   */
  constructor(container, loadRoads, options = {}) {
    this.container = container;
    this.loadRoads = loadRoads;
    this.map = L.map(container, {
      center: options.center || [13.745, 100.535],
      zoom: options.zoom || 14,
      zoomControl: true,
      attributionControl: true,
      preferCanvas: false,
    });
    this.map.attributionControl.setPrefix(false);
    this.map.attributionControl.addAttribution(cfg().attribution);
    L.control.scale({ imperial: false, maxWidth: 120, position: "bottomleft" }).addTo(this.map);
    this.roads = L.layerGroup();
    this.streetNames = L.layerGroup();
    this.labels = [];
    // Names lie on the roads, under every pin (markers are at z-index 600).
    const namesPane = this.map.createPane("streetNames");
    namesPane.style.zIndex = "450";
    namesPane.style.pointerEvents = "none";
    this.layers = {
      stations: L.layerGroup().addTo(this.map),
      hospitals: L.layerGroup().addTo(this.map),
      incidents: L.layerGroup().addTo(this.map),
      vehicles: L.layerGroup().addTo(this.map),
      pick: L.layerGroup().addTo(this.map),
    };
    this.mode = "loading";
    this.roadsLoaded = false;
    this.loadedTiles = 0;
    // The offline notice sits above the map, never over it: it must not hide a pin.
    this.bannerEl = el("div", { class: "map-banner", "data-testid": "offline-banner", role: "status", hidden: true });
    this.bannerEl.textContent = t("map.offline");
    container.before(this.bannerEl);
    onLangChange(() => {
      this.bannerEl.textContent = t("map.offline");
      this.renderNames();
    });
    this.map.on("zoomend moveend resize", () => this.placeNames());
    if (options.onClick) {
      this.map.on("click", (event) => options.onClick(event.latlng.lat, event.latlng.lng));
    }
    this.startTiles();
  }

  startTiles() {
    const url = cfg().tile_url;
    if (!url) {
      this.goOffline();
      return;
    }
    this.tiles = L.tileLayer(url, { maxZoom: 19, crossOrigin: false });
    this.tiles.on("tileload", () => {
      this.loadedTiles += 1;
      if (this.mode !== "online") this.goOnline();
    });
    this.tiles.on("tileerror", () => {
      if (this.loadedTiles === 0) this.goOffline();
    });
    this.tiles.addTo(this.map);
    this.timeout = setTimeout(() => {
      if (this.loadedTiles === 0) this.goOffline();
    }, TILE_TIMEOUT_MS);
  }

  goOnline() {
    clearTimeout(this.timeout);
    clearInterval(this.retry);
    this.retry = null;
    this.mode = "online";
    this.container.dataset.mapMode = "online";
    this.container.classList.remove("map-offline");
    this.showBanner(false);
    this.roads.remove();
    this.streetNames.remove();
    if (this.tiles && !this.map.hasLayer(this.tiles)) this.tiles.addTo(this.map);
  }

  async goOffline() {
    if (this.mode === "offline") return;
    clearTimeout(this.timeout);
    this.mode = "offline";
    this.container.dataset.mapMode = "offline";
    this.container.classList.add("map-offline");
    if (this.tiles) this.tiles.remove();
    this.showBanner(true);
    this.roads.addTo(this.map);
    this.roads.bringToBack?.();
    this.streetNames.addTo(this.map);
    if (!this.roadsLoaded) {
      try {
        const data = await this.loadRoads();
        for (const line of data.lines) {
          L.polyline(line, { className: "road", weight: 2, interactive: false }).addTo(this.roads);
        }
        this.roadsLoaded = true;
        this.container.dataset.roads = String(data.lines.length);
        this.labels = data.labels || [];
        this.renderNames();
      } catch {
        this.container.dataset.roads = "error";
      }
    } else {
      this.placeNames();
    }
    // Keep probing: when the tile server comes back, so do the tiles.
    if (cfg().tile_url && !this.retry) {
      this.retry = setInterval(() => this.probeTiles(), TILE_RETRY_MS);
    }
  }

  /** (Re)make the street-name markers in the screen's language. */
  renderNames() {
    const lang = currentLang();
    const local = cfg()?.map_local_language;
    this.names = this.labels.map((label) => {
      const n = label.names;
      const text = n[lang] || (lang === local ? n.local : n.en) || n.local;
      const node = el("span", { class: "street-name", "data-testid": "street-name" }, text);
      node.style.transform = `translate(-50%, -50%) rotate(${label.angle}deg)`;
      const icon = L.divIcon({ className: "street-name-wrap", html: node, iconSize: null });
      const marker = L.marker([label.lat, label.lon], {
        icon,
        pane: "streetNames",
        interactive: false,
        keyboard: false,
      });
      return { label, marker };
    });
    this.placeNames();
  }

  /** Show the names that fit: in the server's order (longest roads first), each one only
   * where its drawn box does not touch a name already shown. */
  placeNames() {
    if (!this.names) return;
    this.streetNames.clearLayers();
    // A hidden map (a screen before its login) has nothing to measure: placed on resize.
    if (this.mode !== "offline" || this.map.getZoom() < NAMES_FROM_ZOOM || !this.container.clientWidth) {
      this.container.dataset.streetNames = "0";
      return;
    }
    const view = this.map.getBounds().pad(0.1);
    const taken = [];
    for (const { label, marker } of this.names) {
      if (!view.contains([label.lat, label.lon])) continue;
      marker.addTo(this.streetNames);
      const box = marker.getElement()?.firstElementChild?.getBoundingClientRect();
      const clash = !box || taken.some((b) => box.left < b.right + NAME_GAP_PX && b.left < box.right + NAME_GAP_PX
        && box.top < b.bottom + NAME_GAP_PX && b.top < box.bottom + NAME_GAP_PX);
      if (clash) {
        this.streetNames.removeLayer(marker);
      } else {
        taken.push(box);
      }
    }
    this.container.dataset.streetNames = String(taken.length);
  }

  showBanner(shown) {
    if (this.bannerEl.hidden === !shown) return;
    this.bannerEl.hidden = !shown;
    this.map.invalidateSize(); // the map lost (or got back) the banner's height
  }

  probeTiles() {
    const center = this.map.getCenter();
    const zoom = this.map.getZoom();
    const n = 2 ** zoom;
    const x = Math.floor(((center.lng + 180) / 360) * n);
    const rad = (center.lat * Math.PI) / 180;
    const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n);
    const image = new Image();
    image.onload = () => {
      this.loadedTiles = 0;
      this.mode = "probing";
      this.tiles.addTo(this.map);
    };
    image.src = L.Util.template(cfg().tile_url, { s: "a", z: zoom, x, y, r: "" });
  }

  /** Fit the view around these [lat, lon] points (ignoring empty input). */
  fit(points, maxZoom = 15) {
    const valid = points.filter((p) => p && Number.isFinite(p[0]) && Number.isFinite(p[1]));
    if (valid.length) this.map.fitBounds(L.latLngBounds(valid).pad(0.15), { maxZoom });
  }
}

/** A labelled map pin: text in a coloured box, so the state is never told by colour alone. */
export function labelIcon(className, text, data = {}, anchor = [0, 0]) {
  const node = el("div", { class: `pin ${className}` }, text);
  for (const [key, value] of Object.entries(data)) node.dataset[key] = value;
  return L.divIcon({ className: "pin-wrap", html: node, iconSize: null, iconAnchor: anchor });
}

/** Place or move a marker in ``group`` keyed by ``key`` in ``store``. */
export function upsertMarker(store, group, key, latlon, icon, options = {}) {
  let marker = store.get(key);
  if (!marker) {
    marker = L.marker(latlon, { icon, keyboard: false, ...options }).addTo(group);
    store.set(key, marker);
  } else {
    marker.setLatLng(latlon);
    if (icon) marker.setIcon(icon);
  }
  return marker;
}

export { L };
