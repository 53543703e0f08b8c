# syntax=docker/dockerfile:1
# An ExperimentGrid silo with GPU slots: the training core built on TorchSharp's CUDA backend (TorchSharp-cuda-linux
# 0.107.0, which brings libtorch-cuda-12.8), on NVIDIA's CUDA 12.8 runtime image. Build from the repository root:
#
#   docker build -f deploy/images/silo-cuda.Dockerfile -t experimentgrid-silo-cuda .
#
# TorchSharp-cuda-linux and its libtorch-cuda-12.8-linux-x64 parts (several GB) come from a NuGet feed that has them:
#   the SDK's default feed has them, and is used by default;
#   --build-arg TORCH_NUGET_SOURCE=URL-or-directory   a feed of your own, added beside the default one;
#   --secret id=nuget_config,src=$HOME/.nuget/NuGet/NuGet.Config
#                                                     a nuget.config of your own instead (a private feed with
#                                                     credentials): mounted for the restore only, it stays out of the
#                                                     image's layers.
# The run needs the NVIDIA Container Toolkit on the host (docker run --gpus ..., or the compose file's gpu profile): it
# mounts the driver's libcuda.so.1 into the container. Slots: give --slots gpu:0,gpu:1,... by the container's own GPU
# indices (CUDA numbers the GPUs a container sees from 0), see docker-compose.yml.
#
# Not built here: the machines this repository is developed on have no Docker engine and no registry with the CUDA
# package, so this file is checked only by reading it (ComposeGpuProfileTests). The ldd step below is what proves,
# on the first real build, that libtorch_cuda and its CUDA libraries load on this base.
#
# Both stages are Ubuntu 24.04 (noble), like silo.Dockerfile: build/TorchSharpNative.targets weakens the GLIBCXX_3.4.32
# need of libLibTorchSharp.so only for the CPU backend (TorchBackend=cpu) and only where the publishing machine's
# libstdc++ lacks that version; noble's libstdc++ has it, so a CUDA build needs and gets no patch.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
ARG TORCH_NUGET_SOURCE=
WORKDIR /src
# Node.js and npm: the Runtime's build installs the dashboard's ECharts with `npm ci` (src/Runtime/Dashboard).
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props ./
COPY build/ build/
COPY src/Core/ExperimentGrid.Core.csproj src/Core/
COPY src/Contracts/ExperimentGrid.Contracts.csproj src/Contracts/
COPY src/Grains/ExperimentGrid.Grains.csproj src/Grains/
COPY src/Runtime/ExperimentGrid.Runtime.csproj src/Runtime/
COPY src/Silo/ExperimentGrid.Silo.csproj src/Silo/
# TorchBackend=cuda selects TorchSharp-cuda-linux instead of libtorch-cpu-linux-x64 (src/Core's project file).
RUN --mount=type=secret,id=nuget_config,required=false \
    if [ -f /run/secrets/nuget_config ]; then feeds="--configfile /run/secrets/nuget_config"; \
    else feeds=""; [ -z "$TORCH_NUGET_SOURCE" ] || dotnet nuget add source "$TORCH_NUGET_SOURCE" --name torch-feed; fi; \
    dotnet restore src/Silo/ExperimentGrid.Silo.csproj -r linux-x64 -p:TorchBackend=cuda $feeds
COPY deploy/sql/ deploy/sql/
COPY src/Core/ src/Core/
COPY src/Contracts/ src/Contracts/
COPY src/Grains/ src/Grains/
COPY src/Runtime/ src/Runtime/
COPY src/Silo/ src/Silo/
RUN dotnet publish src/Silo/ExperimentGrid.Silo.csproj -c Release -r linux-x64 --self-contained false --no-restore \
        -p:TorchBackend=cuda -o /app

# The .NET runtime images have no CUDA and NVIDIA's have no .NET, so ASP.NET Core's runtime (the silo serves /metrics
# and /healthz) is copied from Microsoft's noble image onto NVIDIA's: same distribution, so the same libraries.
FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS dotnet

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS runtime
# libicu74: the tokenizer's accent stripping. libssl3t64, ca-certificates, tzdata: what .NET needs beyond the base.
# curl: the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libicu74 libssl3t64 ca-certificates tzdata curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=dotnet /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_ROOT=/usr/share/dotnet
WORKDIR /app
COPY --from=build /app ./
# Fail the image build, not the first trial, if a native library cannot load here. libcuda.so.1 and libnvidia-ml.so.1
# belong to the host's driver: the NVIDIA Container Toolkit mounts them when a container starts with GPUs, so they are
# the only libraries allowed to be missing now.
RUN missing=$(ldd libLibTorchSharp.so libtorch.so libtorch_cpu.so libtorch_cuda.so libc10.so libc10_cuda.so 2>&1 \
        | grep 'not found' | grep -v 'weak version' | grep -v -e 'libcuda\.so\.1' -e 'libnvidia-ml\.so\.1' || true); \
    if [ -n "$missing" ]; then echo "native libraries cannot load on this base image:" >&2; echo "$missing" >&2; exit 1; fi

# As in silo.Dockerfile: everything the silo writes lives under EXPERIMENTGRID_HOME, owned by the unprivileged user, so
# that volumes mounted there start with that owner. NVIDIA's image has no "app" user; this one has .NET's uid, 1654.
ENV EXPERIMENTGRID_HOME=/var/lib/experimentgrid \
    EXPERIMENTGRID_DATA=/data/datasets \
    APP_UID=1654
RUN useradd --uid "$APP_UID" --user-group --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/experimentgrid/models /var/lib/experimentgrid/checkpoints /data/datasets \
    && chown -R "$APP_UID" /var/lib/experimentgrid
USER $APP_UID

EXPOSE 11111 30000 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["dotnet", "ExperimentGrid.Silo.dll"]
