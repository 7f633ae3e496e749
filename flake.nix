{
  description = "trashmonitor: health and streaming monitor for webcams on a tailnet";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          # What `just test` runs: the counterpart of every Debian package in
          # scripts/debian-packages.txt (tests/foundation/test_flake.py holds the mapping
          # and fails when a Debian package has none here), plus Python, just (the
          # .venv's rust-just on Debian) and kubectl/kustomize for the Kubernetes checks.
          packages = with pkgs; [
            python311
            ffmpeg # ffmpeg, ffprobe
            mosquitto # broker and mosquitto_pub/sub clients
            prometheus # prometheus, promtool
            prometheus-alertmanager # alertmanager, amtool
            caddy
            # GStreamer's RTSP server for the playback tests (tests/support/rtsp_server.py)
            python311Packages.pygobject3
            gst_all_1.gst-rtsp-server
            gst_all_1.gst-plugins-base
            gst_all_1.gst-plugins-good # rtph264pay
            gst_all_1.gst-plugins-ugly # x264enc
            chromium
            chromedriver
            v4l-utils
            shellcheck
            yamllint
            nix # nix-instantiate
            systemd # systemd-analyze
            git
            nodejs # node and npm (the viewer build)
            docker-compose
            openssl
            rpm # rpmbuild, rpm2archive (`just rpm`)
            iproute2 # ip netns
            util-linux # unshare
            just
            kubectl
            kustomize
          ];
          shellHook = ''
            export PYTHON=${pkgs.python311}/bin/python3
            echo "trashmonitor dev shell: run 'scripts/setup' once, then 'just --list'"
          '';
        };
      });
    };
}
