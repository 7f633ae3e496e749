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
          # The same tools scripts/setup installs from Debian, so `just test` behaves alike.
          packages = with pkgs; [
            python311
            ffmpeg
            mosquitto
            prometheus
            caddy
            chromium
            v4l-utils
            just
            kubectl
            kustomize
            shellcheck
            yamllint
          ];
          shellHook = ''
            export PYTHON=${pkgs.python311}/bin/python3
            echo "trashmonitor dev shell: run 'scripts/setup' once, then 'just --list'"
          '';
        };
      });
    };
}
