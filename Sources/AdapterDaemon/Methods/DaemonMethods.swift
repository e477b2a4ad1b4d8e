import AdapterProtocol

extension Daemon {
    /// The method table: every protocol method and the use case that answers it. `route`, `list`
    /// and `status` also answer on the connection's event loop from the snapshot (ReadFastPath).
    /// The handlers hold the daemon, so its threads live as long as the table. The table records each
    /// method's latency and the errors; installs, removals and routes are counted here.
    public func methods() -> MethodTable {
        var table = MethodTable(metrics: metrics)
        table.registerEncoded(Methods.Status.self, immediate: { _, context in
            self.reads.hasSnapshot ? try self.reads.encodedStatus(context) : nil
        }) { _, context in try self.reads.encodedStatus(context) }
        table.register(Methods.Install.self) { params, context in
            try await self.metrics.countingInstall { try await self.installer.install(params, context) }
        }
        table.registerEncoded(Methods.List.self, immediate: { _, _ in
            self.reads.hasSnapshot ? try self.reads.encodedList() : nil
        }) { _, _ in try self.reads.encodedList() }
        table.register(Methods.Show.self) { params, _ in try self.reads.show(params) }
        table.register(Methods.Remove.self) { params, context in
            try await self.metrics.counting(self.metrics.removals) { try await self.installer.remove(params, context) }
        }
        table.registerEncoded(Methods.Route.self, immediate: { params, _ in
            guard self.reads.hasSnapshot else { return nil }
            return try self.metrics.counting(self.metrics.taskRoutes) { try self.reads.encodedRoute(params) }
        }) { params, _ in try self.metrics.counting(self.metrics.taskRoutes) { try self.reads.encodedRoute(params) } }
        table.register(Methods.RouteText.self) { params, _ in
            try await self.metrics.counting(self.metrics.textRoutes) { try await self.reads.routeText(params) }
        }
        table.register(Methods.QuarantineList.self) { _, _ in try self.reads.quarantineList() }
        table.register(Methods.ConfigGet.self) { _, _ in self.configuration.configGet() }
        table.register(Methods.BudgetSet.self) { params, context in try await self.replanner.budgetSet(params, context) }
        table.register(Methods.Recluster.self) { params, context in try await self.replanner.recluster(params, context) }
        table.register(Methods.Export.self) { params, _ in try await self.exporter.export(params) }
        table.register(Methods.Verify.self) { _, context in try await self.maintenance.verify(context) }
        table.register(Methods.Metrics.self) { _, _ in try self.metrics.exposition(reads: self.reads) }
        return table
    }
}
