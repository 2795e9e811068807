// report.html's script (viva/report.py inlines it: the page stands alone). Whatever has
// data-t plays the recording from there, in seconds of recording.wav; the playhead on the
// timeline is at x = data-plot-left + (t + offset) / data-span * data-plot-width.
(function () {
  var audio = document.getElementById("recording");
  if (!audio) return;
  document.body.classList.add("playable");
  var svg = document.querySelector("svg.timeline");
  var head = svg && svg.querySelector("line.playhead");
  var span = svg ? parseFloat(svg.getAttribute("data-span")) : 0;
  var plotLeft = svg ? parseFloat(svg.getAttribute("data-plot-left")) : 0;
  var plotWidth = svg ? parseFloat(svg.getAttribute("data-plot-width")) : 0;
  var offset = parseFloat(audio.getAttribute("data-offset")) || 0;
  var rows = Array.prototype.slice.call(document.querySelectorAll(".transcript tr[data-t]"));
  function playFrom(el) {
    var t = parseFloat(el.getAttribute("data-t"));
    if (!(t >= 0)) return;
    audio.currentTime = t;
    var playing = audio.play();
    if (playing && playing.catch) playing.catch(function () {});
  }
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-t]") : null;
    if (el) playFrom(el);
  });
  document.addEventListener("keydown", function (e) {
    if ((e.key === "Enter" || e.key === " ") && e.target.matches && e.target.matches("tr[data-t]")) {
      e.preventDefault();
      playFrom(e.target);
    }
  });
  audio.addEventListener("timeupdate", function () {
    var now = audio.currentTime;
    if (head && span > 0) {
      var x = plotLeft + (now + offset) / span * plotWidth;
      head.setAttribute("x1", x); head.setAttribute("x2", x); head.style.display = "";
    }
    var best = null;
    rows.forEach(function (row) {
      var t = parseFloat(row.getAttribute("data-t"));
      if (t <= now + 0.01 && (!best || t >= parseFloat(best.getAttribute("data-t")))) best = row;
    });
    rows.forEach(function (row) { row.classList.toggle("current", row === best); });
  });
})();
