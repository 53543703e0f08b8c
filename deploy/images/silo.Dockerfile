# An ExperimentGrid silo (CPU slots). Build from the repository root:
#   docker build -f deploy/images/silo.Dockerfile -t experimentgrid-silo .
#
# Both stages are Ubuntu 24.04 (noble): .NET 10 publishes no Debian images, and the stages must share a distribution
# because build/TorchSharpNative.targets decides whether to patch libLibTorchSharp.so (its GLIBCXX_3.4.32 need) from
# the libstdc++ of the machine that publishes. Noble's libstdc++ has that version, so no patch is applied, and the
# runtime stage's ldd check below proves the published native libraries load there. Swap both FROM lines together.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
# Node.js and npm: the Runtime's build installs the dashboard's ECharts with `npm ci` (src/Runtime/Dashboard).
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
# Project files first: the restore layer (the largest download, libtorch) is reused until a project or version changes.
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props ./
COPY build/ build/
COPY src/Core/ExperimentGrid.Core.csproj src/Core/
COPY src/Contracts/ExperimentGrid.Contracts.csproj src/Contracts/
COPY src/Grains/ExperimentGrid.Grains.csproj src/Grains/
COPY src/Runtime/ExperimentGrid.Runtime.csproj src/Runtime/
COPY src/Silo/ExperimentGrid.Silo.csproj src/Silo/
RUN dotnet restore src/Silo/ExperimentGrid.Silo.csproj -r linux-x64
COPY deploy/sql/ deploy/sql/
COPY src/Core/ src/Core/
COPY src/Contracts/ src/Contracts/
COPY src/Grains/ src/Grains/
COPY src/Runtime/ src/Runtime/
COPY src/Silo/ src/Silo/
# linux-x64 only: without a runtime identifier the output also carries every other platform's native libraries.
RUN dotnet publish src/Silo/ExperimentGrid.Silo.csproj -c Release -r linux-x64 --self-contained false --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS runtime
# libicu: the tokenizer's accent stripping needs ICU. curl: the health check. libgomp is not needed: libtorch ships its own.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libicu74 curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# Fail the image build, not the first trial, if a native library cannot load here (a strong version need, a missing library).
RUN missing=$(ldd libLibTorchSharp.so libtorch.so libtorch_cpu.so libc10.so 2>&1 | grep 'not found' | grep -v 'weak version' || true); \
    if [ -n "$missing" ]; then echo "native libraries cannot load on this base image:" >&2; echo "$missing" >&2; exit 1; fi

# Everything the silo writes lives under EXPERIMENTGRID_HOME: the bundled models' import cache (models/) and, unless
# --checkpoints says otherwise, checkpoints/. The directories exist here, owned by the app user, so that named volumes
# mounted on them start with that owner. Datasets are mounted (--data-root); nothing of them is in the image.
ENV EXPERIMENTGRID_HOME=/var/lib/experimentgrid \
    EXPERIMENTGRID_DATA=/data/datasets
RUN mkdir -p /var/lib/experimentgrid/models /var/lib/experimentgrid/checkpoints /data/datasets \
    && chown -R "$APP_UID" /var/lib/experimentgrid
# APP_UID is the unprivileged "app" user that .NET's images define.
USER $APP_UID

# Silo-to-silo, gateway (clients), and HTTP (/metrics, /healthz): the silo's default ports.
EXPOSE 11111 30000 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["dotnet", "ExperimentGrid.Silo.dll"]
